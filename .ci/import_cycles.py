# Lists the import cycles between the files of each library crate in the workspace: file A uses
# something of file B (a `crate::b` path, or a name lib.rs re-exports from b) and B uses A, or a
# longer loop. Prints one line per cycle and nothing when there is none (issue 38):
#   python3 .ci/import_cycles.py
# Tests (`#[cfg(test)] mod tests` blocks) are skipped: a test may use anything.
import glob
import os
import re
import sys


def module_of(src, path):
    """`a::b` for src/a/b.rs or src/a/b/mod.rs; '' for lib.rs."""
    rel = os.path.relpath(path, src)[:-3].replace(os.sep, '::')
    rel = re.sub(r'(::)?mod$', '', rel)
    return '' if rel == 'lib' else rel


def code(path):
    """The file's text without comments and without its test module."""
    text = open(path).read()
    cut = re.search(r'#\[cfg\(test\)\]\s*mod tests', text)
    text = text[:cut.start()] if cut else text
    return re.sub(r'//[^\n]*', '', text)


def reexports(lib_text):
    """{name: module} for lib.rs's `pub use module::{...}` lines."""
    out = {}
    for m in re.finditer(r'pub use (\w+)::(\{[^}]*\}|\w+);', lib_text):
        for name in re.findall(r'\w+', m.group(2)):
            out.setdefault(name, m.group(1))
    return out


def targets(text, here, modules, names):
    """The modules this file's text refers to."""
    firsts = re.findall(r'\bcrate::(\w+)', text)
    for group in re.findall(r'\bcrate::\{([^;]*)\}', text):
        # only the first segment of each path in the group: drop nested `{...}` lists first
        while re.search(r'\{[^{}]*\}', group):
            group = re.sub(r'\{[^{}]*\}', '', group)
        firsts += re.findall(r'(?:^|,)\s*(\w+)', group)
    parent = here.rsplit('::', 1)[0] if '::' in here else ''
    firsts += [f'{parent}::{n}' if parent else n for n in re.findall(r'\bsuper::(\w+)', text)]
    out = set()
    for f in firsts:
        mod = f if f in modules else names.get(f)
        if mod and mod != here:
            out.add(mod)
    return out


def cycles(graph):
    """Every elementary cycle's node list, found by depth-first search from each node in order
    (each cycle once, starting from its smallest node)."""
    found = []
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    found.append(path)
                elif nxt > start and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return found


def main():
    bad = 0
    for lib in sorted(glob.glob('**/src/lib.rs', recursive=True)):
        if lib.startswith('target/'):
            continue
        src = os.path.dirname(lib)
        files = sorted(glob.glob(f'{src}/**/*.rs', recursive=True))
        modules = {module_of(src, f): f for f in files if module_of(src, f)}
        names = reexports(code(lib))
        graph = {m: targets(code(f), m, modules, names) for m, f in modules.items()}
        for c in cycles(graph):
            print(f'{src}: ' + ' -> '.join(modules[m] for m in c + [c[0]]))
            bad += 1
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
