package tests

import (
	"os/exec"
	"testing"
)

// sqliteLowerScript makes $1/db/app.db, a rollback-journal database with
// one table of 2000 rows and an index, as a lower layer would ship it.
const sqliteLowerScript = `set -e
mkdir "$1/db"
python3 - "$1/db/app.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("create table kv (k integer primary key, v text, n integer)")
c.execute("create index kv_n on kv (n)")
c.executemany("insert into kv values (?, ?, ?)", [(i, "v%d" % i * 3, i % 97) for i in range(2000)])
c.commit()
c.close()
PY
`

// sqliteSteps opens the lower database read-write, updates it in
// transactions (one rolled back), switches to WAL, writes more, checks
// integrity, checkpoints, and prints a digest of the whole content.
const sqliteSteps = `set -e
cd "$1/db"
python3 - app.db <<'PY'
import hashlib, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
def digest():
    h = hashlib.sha256()
    for line in c.iterdump():
        h.update(line.encode())
    return h.hexdigest()[:16]
print("journal", c.execute("pragma journal_mode").fetchone()[0])
with c:
    c.executemany("insert into kv values (?, ?, ?)", [(i, "new%d" % i, i % 13) for i in range(2000, 3000)])
with c:
    c.execute("update kv set v = v || '!' where n = 5")
    c.execute("delete from kv where k % 7 = 0")
try:
    with c:
        c.execute("delete from kv")
        raise RuntimeError("roll back")
except RuntimeError:
    pass
print("rows", c.execute("select count(*), sum(n) from kv").fetchone())
print("wal", c.execute("pragma journal_mode=wal").fetchone()[0])
for r in range(20):
    with c:
        c.executemany("insert into kv values (?, ?, ?)", [(10000 + r * 100 + i, "w", i) for i in range(100)])
print("integrity", c.execute("pragma integrity_check").fetchone()[0])
print("rows", c.execute("select count(*), sum(n) from kv").fetchone())
print("checkpoint", c.execute("pragma wal_checkpoint(truncate)").fetchone())
print("digest", digest())
c.close()
c = sqlite3.connect(sys.argv[1])
print("reopened", c.execute("pragma integrity_check").fetchone()[0], digest())
c.close()
PY
ls
`

// TestClientSQLite runs SQLite (python3's sqlite3 module) on a database
// that starts in a lower layer: transactions, a rollback, WAL mode.
func TestClientSQLite(t *testing.T) {
	requireMountEnv(t)
	requireTool(t, "python3")
	if err := exec.Command("python3", "-c", "import sqlite3").Run(); err != nil {
		t.Skipf("needs python3's sqlite3 module: %v", err)
	}
	root := t.TempDir()
	lower := buildLowerWith(t, root, "lower", nil, sqliteLowerScript)
	runClient(t, []string{lower}, func(t *testing.T, mnt string) string {
		return shellStep(t, mnt, nil, sqliteSteps)
	}, func(rel string) bool {
		// The database's bytes may differ where SQLite leaves free pages
		// and WAL salts; the digest of its content above is compared.
		return rel == "db/app.db" || rel == "db/app.db-wal" || rel == "db/app.db-shm"
	})
}
