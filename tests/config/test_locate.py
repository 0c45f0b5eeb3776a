"""The TOML line locator: headers, array-of-tables indices, dotted/quoted keys, multi-line values."""

from __future__ import annotations

import tomllib

from manager.config.locate import TomlLocator

DOC = '''\
# comment
top = 1
[a]
b = [
  "x", "[not.a.header]",
  "y",
]
c.d = 2
"quoted key" = 3
s = """
[fake]
e = 1
"""
f = 4

[[arr]]
name = "zero"
[arr.sub]
k = 1

[[arr]]
name = "one"
inline = { p = 1, q = [1, 2] }
[arr.sub]
k = 2
[[arr.items]]
v = 1
[[arr.items]]
v = 2

[t."dotted.name"]
z = 1
'''


def test_doc_is_valid_toml():
    tomllib.loads(DOC)


def test_lines():
    loc = TomlLocator(DOC)
    assert loc.line_of(("top",)) == 2
    assert loc.line_of(("a",)) == 3
    assert loc.line_of(("a", "b")) == 4
    assert loc.line_of(("a", "b", 1)) == 4  # array element -> its key
    assert loc.line_of(("a", "c", "d")) == 8
    assert loc.line_of(("a", "quoted key")) == 9
    assert loc.line_of(("a", "f")) == 14  # the multi-line string did not fool the scanner
    assert loc.line_of(("fake",)) is None and loc.line_of(("a", "e")) == 3  # e: falls back to [a]
    assert loc.line_of(("arr", 0, "name")) == 17
    assert loc.line_of(("arr", 0, "sub", "k")) == 19
    assert loc.line_of(("arr", 1, "name")) == 22
    assert loc.line_of(("arr", 1, "inline", "q", 0)) == 23
    assert loc.line_of(("arr", 1, "sub", "k")) == 25
    assert loc.line_of(("arr", 1, "items", 1, "v")) == 29
    assert loc.line_of(("arr", 1, "missing")) == 21  # the table header
    assert loc.line_of(("t", "dotted.name", "z")) == 32
    assert loc.line_of(("nowhere",)) is None
