#!/usr/bin/env python3
"""Strict check of Prometheus text exposition (0.0.4): promcheck.py FILE.

HELP/TYPE syntax, at most one of each per family, before its samples,
families contiguous, sample and label syntax, counters named *_total.
Exits non-zero with the first offending line.
"""
import re, sys
name = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
value = r'(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|Inf)|NaN)'
sample = re.compile(r'^(%s)(?:\{(?:%s(?:,%s)*,?)?\})? %s(?: -?[0-9]+)?$' % (name, label, label, value))
help_re = re.compile(r'^# HELP (%s) (.*)$' % name)
type_re = re.compile(r'^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$' % name)
text = open(sys.argv[1]).read()
if not text.endswith('\n'):
    sys.exit('no final newline')
types, helps, done, current = {}, set(), set(), None
for n, line in enumerate(text.splitlines(), 1):
    m = help_re.match(line) or type_re.match(line)
    if m:
        fam = m.group(1)
        if line.startswith('# HELP'):
            if fam in helps: sys.exit('%d: second HELP for %s' % (n, fam))
            helps.add(fam)
        else:
            if fam in types: sys.exit('%d: second TYPE for %s' % (n, fam))
            types[fam] = m.group(2)
        if fam != current:
            if fam in done: sys.exit('%d: family %s not contiguous' % (n, fam))
            if current: done.add(current)
            current = fam
        continue
    if line.startswith('#'):
        continue
    m = sample.match(line)
    if not m: sys.exit('%d: not a sample: %r' % (n, line))
    fam = m.group(1)
    if fam != current: sys.exit('%d: sample %s outside its family %s' % (n, fam, current))
    if fam not in types: sys.exit('%d: sample %s before TYPE' % (n, fam))
    if types[fam] == 'counter' and not fam.endswith('_total'):
        sys.exit('%d: counter %s without _total' % (n, fam))
