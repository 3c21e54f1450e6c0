# Reference for PEP 440: reads "a<TAB>b" lines, prints "<cmp> <a valid> <b valid>" per line.
# cmp is -1/0/1 from packaging.version.parse (the packaging on PYTHONPATH); valid is 1/0
# (0: not PEP 440; with packaging < 22 parse() returns a LegacyVersion, with >= 22 cmp is E).
import sys
from packaging import version as V

def parse(s):
    try:
        return V.Version(s), 1
    except V.InvalidVersion:
        legacy = getattr(V, "LegacyVersion", None)
        return (legacy(s) if legacy else None), 0

out = []
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        a, b = line.rstrip("\n").split("\t")
        pa, va = parse(a)
        pb, vb = parse(b)
        if pa is None or pb is None:
            c = "E"
        else:
            c = str((pa > pb) - (pa < pb))
        out.append(f"{c} {va} {vb}")
print("\n".join(out))
