#!/usr/bin/env python3
"""Seeds a fresh quire with posts made of real text, for bench/search.sh.

    bench/seed_search.py API_URL SAMPLES_DIR POSTS

Reads the paragraphs of every Markdown file under SAMPLES_DIR (the shared samples: English,
Korean, Japanese, Chinese), registers 16 authors, and publishes POSTS posts through
/api/v1/posts, each with a title of 3 to 8 words and 3 to 12 paragraphs drawn at random (a
fixed seed) from the files of one language, tagged with that language. Any failed request
stops it with the status and the body.
"""

import http.client
import json
import pathlib
import random
import re
import sys
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

AUTHORS = 16
WORKERS = 8

api = urllib.parse.urlsplit(sys.argv[1])
samples = pathlib.Path(sys.argv[2])
posts = int(sys.argv[3])
local = threading.local()


def call(method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else b""
    for attempt in (1, 2):
        if getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection(api.hostname, api.port, timeout=120)
        try:
            local.conn.request(method, path, body=data, headers=headers)
            reply = local.conn.getresponse()
            text = reply.read()
            break
        except (ConnectionError, http.client.HTTPException):
            local.conn.close()
            local.conn = None
            if attempt == 2:
                raise
    if not 200 <= reply.status < 300:
        sys.exit(f"seeding: {method} {path} answered {reply.status}: {text[:500]!r}")
    return json.loads(text) if text else None


def paragraphs_by_language():
    """Paragraphs of running text, by the language of the file they come from."""
    found = {}
    for path in sorted(samples.rglob("*.md")) + sorted(samples.rglob("*.markdown")):
        text = path.read_text(errors="replace")
        language = "en"
        if text.startswith(("---", "+++")):
            fence = text[:3]
            end = text.find("\n" + fence, 3)
            header = text[3:end] if end > 0 else ""
            match = re.search(r'^\s*(?:lang|language|languageCode)\s*[:=]\s*["\']?([A-Za-z-]+)', header, re.M)
            if match:
                language = match.group(1).split("-")[0].lower()
            text = text[end + 4:] if end > 0 else text
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text)]
        paragraphs = [p for p in paragraphs if len(p) > 80 and not p.startswith(("```", "|", "<", "!", ":::", "{{"))]
        found.setdefault(language, []).extend(paragraphs)
    return {language: found[language] for language in found if len(found[language]) >= 5}


def main():
    rng = random.Random(7)
    texts = paragraphs_by_language()
    languages = sorted(texts)
    tokens = []
    for n in range(AUTHORS):
        name = f"writer{n}"
        user = {"username": name, "email": f"{name}@example.com", "password": "quiet harbour lantern at dawn"}
        call("POST", "/api/v1/users", body=user)
        session = call("POST", "/api/v1/sessions", body={"email": user["email"], "password": user["password"]})
        tokens.append(session["token"])

    def publish(i):
        r = random.Random(i)
        language = languages[i % len(languages)]
        chosen = r.sample(texts[language], min(len(texts[language]), r.randint(3, 12)))
        words = " ".join(chosen).split()
        title = " ".join(r.sample(words, min(len(words), r.randint(3, 8))))[:200] or f"Post {i}"
        body = "\n\n".join(chosen)
        post = {"title": title, "description": chosen[0][:180], "content": body,
                "language": language, "tags": [language, f"topic{r.randint(0, 20)}"]}
        call("POST", "/api/v1/posts", tokens[i % AUTHORS], post)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(publish, range(posts)))
    print(" ".join(languages))


main()
