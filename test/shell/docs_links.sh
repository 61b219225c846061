#!/usr/bin/env bash
# The documentation stays inside the repository and holds together: every
# relative Markdown link names a file that exists (and, with #anchor, a
# heading of that file); no tracked file cites a DESIGN.md other than
# docs/design.md or points outside the repository (a parent directory's
# shared folder); README.md
# stays under 40,000 characters, keeps the markers its tests parse, and its
# settings table names every phoenix.* setting the C code defines.
set -euo pipefail
cd "$PHOENIX_ROOT"
python3 - <<'EOF'
import os, re, subprocess, sys

files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'],
                       capture_output=True, text=True, check=True).stdout.split('\n')
files = [f for f in files if f and os.path.isfile(f)]
bad = []

def anchors(path):
    """GitHub's anchors for the headings of a Markdown file."""
    out, seen = set(), {}
    fence = False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'):
            fence = not fence
        if fence:
            continue
        m = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if not m:
            continue
        a = m.group(1).strip().lower()
        a = re.sub(r'[^\w\- ]', '', a).replace(' ', '-')
        n = seen.get(a, 0)
        seen[a] = n + 1
        out.add(a if n == 0 else f'{a}-{n}')
    for m in re.finditer(r'<a name="([^"]+)"', open(path, encoding='utf-8').read()):
        out.add(m.group(1))
    return out

for f in files:
    if not f.endswith('.md'):
        continue
    text = open(f, encoding='utf-8').read()
    text = re.sub(r'```.*?```', '', text, flags=re.S)   # links in code blocks are code
    for m in re.finditer(r'\]\(([^)\s]+)\)', text):
        target = m.group(1)
        if re.match(r'^[a-z]+:', target):              # http:, https:, mailto:
            continue
        path, _, frag = target.partition('#')
        dest = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
        if not os.path.exists(dest):
            bad.append(f'{f}: link to missing {target}')
        elif frag and dest.endswith('.md') and frag not in anchors(dest):
            bad.append(f'{f}: no heading #{frag} in {dest}')

for f in files:
    if f == 'test/shell/docs_links.sh':
        continue
    try:
        text = open(f, encoding='utf-8').read()
    except UnicodeDecodeError:
        continue
    for n, line in enumerate(text.split('\n'), 1):
        for m in re.finditer(r'(?:[\w./-]*/)?DESIGN\.md', line, flags=re.I):
            if m.group(0) not in ('docs/design.md', 'design.md', '../docs/design.md'):
                bad.append(f'{f}:{n}: cites {m.group(0)} (the contract is docs/design.md)')
        if '../' + 'shared' in line:   # spelled apart so this file does not match itself
            bad.append(f'{f}:{n}: points outside the repository ({line.strip()[:60]})')

readme = open('README.md', encoding='utf-8').read()
if len(readme) > 40000:
    bad.append(f'README.md: {len(readme)} characters, over 40,000')
for marker in ('<!-- tour:start -->', '<!-- tour:end -->',
               '<!-- roles:begin -->', '<!-- roles:end -->'):
    if readme.count(marker) != 1:
        bad.append(f'README.md: marker {marker} appears {readme.count(marker)} times, not once')

# Every setting defined in C is in the README's settings table.
settings = readme.split('## Settings', 1)[1].split('\n## ', 1)[0] if '## Settings' in readme else ''
for path in subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', 'src'],
                           capture_output=True, text=True, check=True).stdout.split():
    if path.endswith('.c') and os.path.isfile(path):
        for name in re.findall(r'DefineCustom\w+Variable\(\s*"(phoenix\.\w+)"', open(path, encoding='utf-8').read()):
            if f'`{name}`' not in settings:
                bad.append(f'README.md: setting {name} ({path}) missing from the settings table')

for b in bad:
    print(b)
if bad:
    sys.exit(1)
print('docs ok')
EOF
