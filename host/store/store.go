// Package store opens the gateway's one Badger database and keeps it tidy. Each kind of data owns
// a key prefix (see the packages that write them); this package only manages the database.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Open opens (or creates) the database in dir with settings sized for a gateway whose bulk is the
// call records: small, write-once values arriving at thousands per second and rarely read.
//
// The settings are about memory. Badger builds tables in Go heap buffers (ristretto's z.Calloc is
// a plain make without the jemalloc build tag), and a pool keeps up to eight of them for reuse
// while writes go on, each as big as the largest table it has built. With the records' values in
// the LSM tree, those buffers took the gateway's private memory to 600-800 MiB under sustained
// load. Here values go to the value log, which records only ever append to, so the tree holds
// keys and value pointers, about 40 bytes a record instead of about 500: memtables, tables,
// compactions and their buffers are ten times smaller, and private memory stays under 100 MiB
// however long the load lasts (bench/README.md has the measurements). Badger memory-maps its
// files, so the pages it writes also show in resident memory, as page cache the kernel can reclaim.
func Open(dir string, log *slog.Logger) (*badger.DB, error) {
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLog{log}).
		// Values of 64 bytes and more (every record, plugin modules) go to the value log.
		WithValueThreshold(64).
		// 4 MiB memtables (about 5 MiB of arena each): a flush every few seconds at 12k records/s,
		// and about 25 MiB at worst with three waiting for their flush, when writes block. The
		// largest value kept in the tree must stay under 15% of this, so ValueThreshold goes with it.
		WithMemTableSize(memTableSize).
		WithNumMemtables(3).
		// Two compactors (the least Badger runs) bound how many tables are built at once, and
		// leave the CPU to the request path.
		WithNumCompactors(2).
		// Keys and pointers gain little from compression, and it doubles the build buffers.
		WithCompression(options.None).
		// Badger syncs each value log file to disk when it is full, blocking writes meanwhile
		// (up to a few hundred milliseconds on a busy disk, about every 10 s at 12k records/s); the
		// record writer's backlog covers that.
		WithValueLogFileSize(64 << 20).
		WithNumVersionsToKeep(1).
		WithBlockCacheSize(32 << 20)
	// A stop without Close leaves the memtables' logs behind, replayed into memtables at the next
	// open; one written with bigger memtables (16 MiB before this release) does not fit ours, and
	// Badger then ends the process. Such logs are replayed first with memtables of their size, and
	// closing that database flushes them to tables.
	if n := largestMemtableLog(dir); n > 2*memTableSize {
		log.Info("store: replaying memtable logs written with bigger memtables", "bytes", n)
		db, err := badger.Open(opts.WithMemTableSize(n))
		if err != nil {
			return nil, fmt.Errorf("store: open %s: %w", dir, err)
		}
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("store: flush memtable logs in %s: %w", dir, err)
		}
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return db, nil
}

// memTableSize is the size of Badger's memtables; each has a log file of twice that size.
const memTableSize = 4 << 20

// largestMemtableLog returns the size of the largest memtable log (NNNNN.mem) in dir, 0 if none.
func largestMemtableLog(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var largest int64
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".mem") {
			continue
		}
		if info, err := e.Info(); err == nil && info.Size() > largest {
			largest = info.Size()
		}
	}
	return largest
}

// RunGC reclaims value-log space every interval until ctx ends.
func RunGC(ctx context.Context, db *badger.DB, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for db.RunValueLogGC(0.5) == nil {
			}
		}
	}
}

// badgerLog sends Badger's own messages to the gateway log, keeping its chatter at debug level.
type badgerLog struct{ l *slog.Logger }

func (b badgerLog) Errorf(f string, a ...any)   { b.l.Error("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLog) Warningf(f string, a ...any) { b.l.Warn("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLog) Infof(f string, a ...any)    { b.l.Debug("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLog) Debugf(f string, a ...any)   { b.l.Debug("badger: " + fmt.Sprintf(f, a...)) }
