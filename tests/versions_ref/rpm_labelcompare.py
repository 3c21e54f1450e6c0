# Reference for RPM: reads "a<TAB>b" lines, splits each EVR like rpm's parseEVR (epoch only
# when all digits before ':'; release after the last '-') and prints rpm.labelCompare's result,
# or E when rpm refuses it (an empty version).
import sys
import rpm

def evr(s):
    i = 0
    while i < len(s) and s[i].isascii() and s[i].isdigit():
        i += 1
    se = s.rfind("-", i)
    if i < len(s) and s[i] == ":":
        e, start = (s[:i] or "0"), i + 1
    else:
        e, start = None, 0
    if se >= 0:
        return (e, s[start:se], s[se + 1:])
    return (e, s[start:], None)

out = []
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        a, b = line.rstrip("\n").split("\t")
        try:
            out.append(str(rpm.labelCompare(evr(a), evr(b))))
        except ValueError:
            out.append("E")
print("\n".join(out))
