# Lists every function of the workspace longer than N lines (default 60), by brace counting;
# the tests/ folders are skipped (unit-test modules inside src/ are counted):
#   python3 .ci/fn_lengths.py [N]
# .ci/run calls it: any function listed fails CI (issue 38).
import re,sys,glob
found=0
limit=int(sys.argv[1]) if len(sys.argv)>1 else 60
for f in sorted(glob.glob('**/*.rs',recursive=True)):
    if f.startswith('target/') or '/tests/' in f or '/target/' in f: continue
    lines=open(f).read().split('\n')
    i=0
    while i<len(lines):
        l=lines[i]
        if re.match(r'\s*(pub(\(\w+\))?\s+)?(const\s+)?(unsafe\s+)?fn\s+\w+',l):
            depth=0;start=i;seen=False
            j=i
            while j<len(lines):
                depth+=lines[j].count('{')-lines[j].count('}')
                if '{' in lines[j]: seen=True
                if seen and depth<=0: break
                if not seen and lines[j].rstrip().endswith(';'): break
                j+=1
            n=j-start+1
            if n>limit:
                print(f"{f}:{start+1}: {n} lines: {l.strip()[:60]}")
                found+=1
            i=j+1 if seen else i+1
        else: i+=1
sys.exit(1 if found else 0)
