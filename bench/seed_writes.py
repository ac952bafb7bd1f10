#!/usr/bin/env python3
"""Seeds a fresh quire through the RealWorld API for bench/writes.sh.

    bench/seed_writes.py API_URL WORK_DIR USERS

Registers USERS users (bench0, bench1, ...) and one more, `star`, whose posts and profile
the contended scenarios write to; publishes 2,000 posts spread over the users, each with
the tag `common` and one to three tags from a long-tail set (tag0 is the most used,
tag49 the least); has every user favorite 20 posts and follow 5 others; has the users with
an even number favorite the hot post and follow `star`, so the toggling scenarios know
where each user starts.

Writes WORK_DIR/tokens (one token a line, user N on line N+1) and prints
`HOT_SLUG COMMENTED_SLUG`. Any failed request stops it with the status and the body.
"""

import http.client
import json
import random
import sys
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

POSTS = 2000
TAGS = [f"tag{i}" for i in range(50)]
FAVORITES_PER_USER = 20
FOLLOWS_PER_USER = 5
WORKERS = 8

api = urllib.parse.urlsplit(sys.argv[1])
work_dir = sys.argv[2]
user_count = int(sys.argv[3])
local = threading.local()


def call(method, path, token=None, body=None):
    """One request over this thread's keep-alive connection; the decoded reply."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else b""
    for attempt in (1, 2):
        if getattr(local, "conn", None) is None:
            local.conn = http.client.HTTPConnection(api.hostname, api.port, timeout=120)
        try:
            local.conn.request(method, api.path + path, body=data, headers=headers)
            reply = local.conn.getresponse()
            text = reply.read()
            break
        except (ConnectionError, http.client.HTTPException):
            # The server closed an idle keep-alive connection: reconnect, once.
            local.conn.close()
            local.conn = None
            if attempt == 2:
                raise
    if not 200 <= reply.status < 300:
        sys.exit(f"seeding: {method} {path} answered {reply.status}: {text[:500]!r}")
    return json.loads(text) if text else None


def register(name):
    user = {"username": name, "email": f"{name}@example.com", "password": "password123"}
    return call("POST", "/users", body={"user": user})["user"]["token"]


def publish(token, title, tags):
    article = {
        "title": title,
        "description": f"About {title}",
        "body": f"# {title}\n\nSome text, long enough to look like a paragraph. " * 4,
        "tagList": tags,
    }
    return call("POST", "/articles", token, {"article": article})["article"]["slug"]


def main():
    rng = random.Random(1)
    names = [f"bench{i}" for i in range(user_count)]
    with ThreadPoolExecutor(WORKERS) as pool:
        # Registration hashes with argon2: in parallel, the server queues the hashes.
        tokens = list(pool.map(register, names + ["star"]))
        star = tokens.pop()
        # Zipf-like weights: tag0 on many posts, tag49 on few.
        weights = [1 / (rank + 1) for rank in range(len(TAGS))]
        jobs = []
        for i in range(POSTS):
            tags = set(rng.choices(TAGS, weights, k=rng.randint(1, 3)))
            jobs.append((tokens[i % user_count], f"Seed post {i}", sorted(tags) + ["common"]))
        slugs = list(pool.map(lambda job: publish(*job), jobs))
        hot = publish(star, "The hot post", ["common", "tag0"])
        commented = publish(star, "The commented post", ["common", "tag1"])

        def react(i):
            token = tokens[i]
            for slug in rng_for(i).sample(slugs, FAVORITES_PER_USER):
                call("POST", f"/articles/{slug}/favorite", token)
            others = [name for name in names if name != names[i]]
            for name in rng_for(i).sample(others, min(FOLLOWS_PER_USER, len(others))):
                call("POST", f"/profiles/{name}/follow", token)
            if i % 2 == 0:
                call("POST", f"/articles/{hot}/favorite", token)
                call("POST", "/profiles/star/follow", token)

        list(pool.map(react, range(user_count)))
    with open(f"{work_dir}/tokens", "w") as out:
        out.write("".join(f"{token}\n" for token in tokens))
    print(hot, commented)


def rng_for(i):
    return random.Random(1000 + i)


main()
