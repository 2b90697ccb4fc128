package store

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// The settings keep memtables small, which caps how much one transaction may hold in the tree.
// Values of every size the gateway stores (records of a few hundred bytes, plugin modules of up
// to the 16 MiB upload limit) must still commit in one transaction and read back after a reopen.
func TestOpen_ValuesOfEverySizeSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sizes := []int{0, 1, 63, 64, 500, 64 << 10, 700 << 10, 4 << 20, 16 << 20}
	value := func(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, n) }

	db, err := Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		for i, n := range sizes {
			if err := txn.Set(fmt.Appendf(nil, "test/%02d", i), value(i, n)); err != nil {
				return fmt.Errorf("set %d bytes: %w", n, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		for i, n := range sizes {
			item, err := txn.Get(fmt.Appendf(nil, "test/%02d", i))
			if err != nil {
				return fmt.Errorf("get %d bytes: %w", n, err)
			}
			got, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, value(i, n)) {
				return fmt.Errorf("value of %d bytes read back as %d bytes", n, len(got))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A gateway of an earlier release (16 MiB memtables) that stops without closing its database
// leaves memtable logs bigger than the memtables Open now uses. The next start replays them all.
func TestOpen_ReplaysLogsOfBiggerMemtables(t *testing.T) {
	const n = 20_000 // about 10 MB: more than our memtables hold, less than the old ones
	value := func(i int) []byte { return fmt.Appendf(bytes.Repeat([]byte{'v'}, 480), "%08d", i) }
	if dir := os.Getenv("STORE_TEST_UNCLEAN_DIR"); dir != "" {
		// In the child process: write with the old settings and exit without Close.
		db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).
			WithMemTableSize(16 << 20).WithValueLogFileSize(64 << 20).WithBlockCacheSize(32 << 20))
		if err != nil {
			t.Fatal(err)
		}
		wb := db.NewWriteBatch()
		for i := range n {
			if err := wb.Set(fmt.Appendf(nil, "test/%08d", i), value(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			t.Fatal(err)
		}
		os.Exit(0)
	}

	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpen_ReplaysLogsOfBiggerMemtables$")
	cmd.Env = append(os.Environ(), "STORE_TEST_UNCLEAN_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writer: %v\n%s", err, out)
	}
	if largestMemtableLog(dir) <= 2*memTableSize {
		t.Fatalf("the writer left no memtable log bigger than ours (largest: %d bytes)", largestMemtableLog(dir))
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		for i := range n {
			item, err := txn.Get(fmt.Appendf(nil, "test/%08d", i))
			if err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
			if err := item.Value(func(v []byte) error {
				if !bytes.Equal(v, value(i)) {
					return fmt.Errorf("record %d read back wrong", i)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if largestMemtableLog(dir) > 2*memTableSize {
		t.Fatalf("a memtable log of %d bytes is left after the replay", largestMemtableLog(dir))
	}
}
