// Package store opens the gateway's one Badger database and keeps it tidy. Each kind of data owns
// a key prefix (see the packages that write them); this package only manages the database.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Open opens (or creates) the database in dir with settings sized for a gateway: small memtables,
// because records are small and many, and no compression cost on the write path.
func Open(dir string, log *slog.Logger) (*badger.DB, error) {
	opts := badger.DefaultOptions(dir).
		WithLogger(badgerLog{log}).
		WithMemTableSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumVersionsToKeep(1).
		WithBlockCacheSize(32 << 20)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return db, nil
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
