#!/usr/bin/env python3
"""Regenerates the seed corpora under tests/fuzz/corpus/ from tests/fixtures/vtiger-8.2 (response.body_raw)
and config/vtsync.toml.example. Run once by hand; the output is committed (small)."""
import glob, hashlib, json, os, shutil, sys

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
fixtures = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, 'tests', 'fixtures', 'vtiger-8.2')
root = os.path.join(here, 'corpus')
for t in ['fuzz_protocol', 'fuzz_vtql_literal', 'fuzz_config', 'fuzz_values']:
    shutil.rmtree(os.path.join(root, t), ignore_errors=True)
    os.makedirs(os.path.join(root, t))

bodies = []
for f in sorted(glob.glob(os.path.join(fixtures, '*.json'))):
    d = json.load(open(f))
    b = d.get('response', {}).get('body_raw') if isinstance(d.get('response'), dict) else None
    if isinstance(b, str) and b and len(b.encode()) <= 8192:
        bodies.append((os.path.basename(f)[:-5], b.encode()))

seen = set()
for name, b in bodies:
    h = hashlib.sha1(b).hexdigest()
    if h in seen:
        continue
    seen.add(h)
    open(os.path.join(root, 'fuzz_protocol', name), 'wb').write(b'\x00' + b)
open(os.path.join(root, 'fuzz_protocol', 'url'), 'wb').write(b'\x20https://crm.example.com:8443/vtiger/')

vals = set()
def walk(x):
    if isinstance(x, dict):
        for v in x.values():
            walk(v)
    elif isinstance(x, list):
        for v in x:
            walk(v)
    elif isinstance(x, str) and len(x) < 200:
        vals.add(x)
for _, b in bodies:
    try:
        walk(json.loads(b))
    except ValueError:
        pass
extra = ['2024-02-29', '2023-02-30', '2024-05-01 10:00:00', '2024-05-01T10:00', '0000-00-00 00:00:00', '5.000',
         '+-5', '1e999', '-12.5e-3', '.5', 'A |##| B |##|  C', '1', 'on', 'yes', '12x87', 'O\'Brien "x" \\ ;--']
for i, v in enumerate(sorted(vals)[:60] + extra):
    for t in range(7):
        if (i + t) % 3 == 0:
            open(os.path.join(root, 'fuzz_values', f's{i:03d}_{t}'), 'wb').write(bytes([t]) + v.encode())
open(os.path.join(root, 'fuzz_values', 'json_array'), 'wb').write(bytes([6 | 8]) + b'["a","b\\"c",1,true]')
open(os.path.join(root, 'fuzz_values', 'json_null'), 'wb').write(bytes([4 | 8]) + b'null')
open(os.path.join(root, 'fuzz_values', 'json_num'), 'wb').write(bytes([5 | 8]) + b'1.5e300')

for i, v in enumerate(["O'Brien", "a\\b", "%\\%_", "x' OR '1'='1", "2024-05-01 10:00:00\xff12x87", "a\xffb\xffc",
                       "semi;colon -- comment", "line\nbreak\ttab", "\\'", "'", "from Users where"]):
    for m in (0, 1, 2, 3):
        open(os.path.join(root, 'fuzz_vtql_literal', f's{i}_{m}'), 'wb').write(bytes([m]) + v.encode('latin1'))

shutil.copy(os.path.join(repo, 'config', 'vtsync.toml.example'), os.path.join(root, 'fuzz_config', 'example.toml'))
open(os.path.join(root, 'fuzz_config', 'minimal.toml'), 'w').write(
    '[vtiger]\nurl = "http://127.0.0.1:8088"\nusername = "admin"\naccess_key = "k"\n'
    '[postgres]\nconninfo = "postgresql:///vtsync"\n[sync]\nmodules = ["Contacts"]\npoll_interval = "30s"\n')
open(os.path.join(root, 'fuzz_config', 'bad.toml'), 'w').write('[vtiger\nurl = = "x"\n')
print({t: len(os.listdir(os.path.join(root, t))) for t in os.listdir(root)})
