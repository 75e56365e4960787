"""The demo project's people and prompts, written for SFT Studio (no external data)."""

DEMO_PASSWORD = "studio-demo"

DEMO_MEMBERS = [
    # username, roles, labeler domains, reviewer domains
    ("admin", ["admin"], [], []),
    ("ana", ["labeler"], ["python", "math"], []),
    ("ben", ["labeler"], ["biology", "law"], []),
    ("rita", ["reviewer"], [], ["python", "math", "biology", "law"]),
]

DEMO_PROJECT = {
    "name": "Expert answers, autumn batch",
    "slug": "expert-answers",
    "description": "Ideal assistant answers to real questions from programmers, scientists and lawyers.",
}

DEMO_GUIDELINES = """# Writing the ideal assistant reply

1. **Helpful.** Answer the question that was asked. If it is ambiguous, say which reading you answer.
2. **Truthful.** Only state what you know to be right. Say so when something is uncertain.
3. **Harmless.** Decline what would cause harm, and explain briefly why.
4. **Show the work.** For maths and logic, reason step by step *before* the final answer.
5. **Format.** Use markdown: short paragraphs, lists for steps, fenced code with a language tag.

An AI draft is a starting point, not an answer: check every claim and every line of code.
"""

# (domain, prompt, optional AI draft)
DEMO_PROMPTS = [
    (
        "python",
        "How do I read a large CSV file in Python without loading it all into memory?",
        "You can use pandas: `pd.read_csv('file.csv')` reads the file.",
    ),
    (
        "python",
        "What is the difference between a list and a tuple in Python, and when should I use each?",
        "",
    ),
    (
        "python",
        "Why does my recursive Fibonacci function get so slow for n = 40, and how can I fix it?",
        "",
    ),
    (
        "python",
        "Explain Python's GIL to a C++ programmer. When does it matter for performance?",
        "",
    ),
    (
        "python",
        "Write a function that checks whether a string is a palindrome, ignoring case and punctuation.",
        "def is_palindrome(s):\n    return s == s[::-1]",
    ),
    (
        "python",
        "How do I write a context manager, and when is `contextlib.contextmanager` enough?",
        "",
    ),
    (
        "python",
        "My pytest fixture runs once per test but I want it once per module. What do I change?",
        "",
    ),
    ("python", 'What does `if __name__ == "__main__":` do?', ""),
    (
        "math",
        "A train leaves at 14:05 and arrives at 17:50. The distance is 300 km. What is its average speed?",
        "80 km/h. The trip takes 3 h 45 min, and 300 / 3.75 = 80.",
    ),
    ("math", "Is 221 a prime number? Explain how you can tell.", ""),
    (
        "math",
        "What is the probability of rolling at least one six in four throws of a fair die?",
        "",
    ),
    ("math", "Solve for x: 3x + 7 = 2x - 5.", ""),
    ("math", "Why is the sum of the angles of a triangle 180 degrees?", ""),
    ("math", "How many ways can 5 people sit around a round table?", ""),
    ("math", "Explain what a derivative is without using the word 'limit' first.", ""),
    ("biology", "How do mRNA vaccines work, step by step?", ""),
    (
        "biology",
        "Why do some bacteria become resistant to antibiotics?",
        "Bacteria become resistant because antibiotics make them stronger over time.",
    ),
    ("biology", "What is the difference between mitosis and meiosis?", ""),
    ("biology", "How does CRISPR-Cas9 cut DNA at a specific place?", ""),
    ("biology", "Why do we need to sleep? What happens in the brain during sleep?", ""),
    ("biology", "What does the mitochondrion do, and why does it have its own DNA?", ""),
    ("biology", "How do plants know which way is up?", ""),
    ("law", "What is the difference between a misdemeanor and a felony in the United States?", ""),
    ("law", "Can my landlord enter my apartment without notice? I rent in Germany.", ""),
    (
        "law",
        "What does 'consideration' mean in contract law?",
        "Consideration is when the parties think carefully about the contract before signing it.",
    ),
    ("law", "Is a verbal agreement legally binding?", ""),
    ("law", "What is the GDPR's 'right to be forgotten' and when does it not apply?", ""),
    ("law", "Explain 'fair use' in copyright with two examples.", ""),
    (None, "Write a short, friendly email declining a meeting invitation.", ""),
    (None, "Summarize the main arguments for and against a four-day work week.", ""),
]

# A second project for structured turns (design.md contract 6): two declared tools, the
# reasoning optional, and questions a model should not answer from memory.
TOOLS_PROJECT = {
    "name": "Tool use: code and search",
    "slug": "tool-use",
    "description": "Assistant replies that think, then run code or search before answering.",
    "reasoning_mode": "optional",
    "max_turns": 4,
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "python",
                "description": "Run Python 3 code in a sandbox and return what it prints.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string", "description": "The program to run."}
                    },
                    "required": ["code"],
                    "additionalProperties": False,
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search the web; returns the top results as title, url and snippet.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "What to search for."},
                        "top_k": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 10,
                            "description": "How many results (default 5).",
                        },
                    },
                    "required": ["query"],
                    "additionalProperties": False,
                },
            },
        },
    ],
}

TOOLS_GUIDELINES = """# Replies that use tools

1. **Think first.** Write the reasoning: what you need to know and which tool gives it.
2. **Call, do not guess.** Counting, exact arithmetic and anything that changes over time
   (prices, releases, news) go to `python` or `search`. Arguments must match the tool's schema.
3. **Paste the real result.** Each call gets exactly one tool result, as the tool returned it.
4. **Then answer.** The final reply uses the results and says where a fact came from.
"""

# (domain, prompt): questions that need code execution or a fresh search.
TOOLS_PROMPTS = [
    ("python", "How many times does the letter r appear in 'strawberry raspberry cranberry'?"),
    ("math", "What is 37 to the power of 11, exactly?"),
    ("math", "How many prime numbers are there below 100,000?"),
    ("python", "Which is the latest stable release of Python, and what is new in it?"),
    ("python", "Sort these by length, then alphabetically: kiwi, fig, banana, apple, date."),
    (None, "What is the weather forecast for Lisbon this weekend?"),
]

# A third project for preference data (design.md contract 7): labelers rank candidate
# replies written for the demo (one good, one plausible, one with a flaw to spot).
RANKING_PROJECT = {
    "name": "Ranking: which reply is best?",
    "slug": "rank-replies",
    "description": "Order candidate replies from best to worst, flag the wrong ones, and "
    "write a better reply when none is good enough.",
    "kind": "ranking",
}

RANKING_GUIDELINES = """# Ranking candidate replies

1. **Correct first.** A reply with a factual or code error ranks below every correct one;
   flag it *Wrong*.
2. **Then helpful and clear.** Among correct replies, prefer the one that answers exactly
   what was asked, briefly, with an example where it helps.
3. **Ties are fine** when two replies are equally good.
4. **Write a better reply** only when every candidate falls short; it ranks first.
"""

# (domain, prompt, candidates)
RANKING_PROMPTS = [
    (
        "python",
        "How do I remove duplicates from a list but keep the original order?",
        [
            "Use `list(dict.fromkeys(items))`: dictionaries keep insertion order (Python "
            "3.7+), so the first occurrence of each item stays where it was.",
            "Use `list(set(items))`. Sets cannot hold duplicates.",
            "Loop and keep a `seen` set:\n\n```python\nseen, unique = set(), []\nfor item in "
            "items:\n    if item not in seen:\n        seen.add(item)\n        unique.append("
            "item)\n```",
        ],
    ),
    (
        "math",
        "Is 0.999… (repeating) equal to 1?",
        [
            "Yes. Let x = 0.999…; then 10x = 9.999…, so 10x − x = 9 and x = 1. Both "
            "decimals name the same real number.",
            "No: it gets closer and closer to 1 but never reaches it.",
            "Yes, because 1/3 = 0.333… and multiplying both sides by 3 gives 1 = 0.999….",
        ],
    ),
    (
        "biology",
        "Why do onions make you cry?",
        [
            "Cutting an onion breaks its cells and releases enzymes that turn sulfur "
            "compounds into syn-propanethial-S-oxide, a gas that irritates the eyes; tears "
            "wash it away. Chilling the onion or a sharp knife reduces it.",
            "Onions contain acid that splashes into your eyes when you cut them.",
            "A gas released when the onion is cut irritates your eyes, so they water.",
        ],
    ),
    (
        "law",
        "Can my landlord enter my flat without telling me first?",
        [
            "In most places, only in an emergency: otherwise the law or your lease usually "
            "requires reasonable notice (often 24 hours). Check your lease and your local "
            "tenancy rules, or ask a tenants' advice service.",
            "Yes, the landlord owns the flat and can enter whenever they want.",
            "It depends on where you live and on your lease; usually notice is required.",
        ],
    ),
]
