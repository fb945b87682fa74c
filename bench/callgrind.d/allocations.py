# Prints how many times a callgrind profile called the allocator: malloc,
# calloc, realloc, aligned allocations and every operator new. Calls the
# allocator makes into itself are not counted again.
import re, sys

ENTRY = re.compile(r"^(malloc|calloc|realloc|posix_memalign|aligned_alloc|memalign|"
                   r"operator new(\[\])?\(.*\))$")
names = {}
total = 0
caller = ""
pending = None
with open(sys.argv[1], errors="replace") as f:
    for line in f:
        if line.startswith(("fn=", "cfn=")):
            m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if not m:
                continue
            ident, name = m.group(1), m.group(2)
            if name is not None:
                names[ident] = name
            name = names.get(ident, "")
            if line.startswith("fn="):
                caller = name
            else:
                pending = name
        elif line.startswith("calls=") and pending is not None:
            if ENTRY.match(pending) and not ENTRY.match(caller):
                total += int(line.split("=", 1)[1].split()[0])
            pending = None
print(total)
