// Package interrupt rewrites a WebAssembly module so that its host can stop
// it cheaply at any moment, and summarizes a module's imports, exports and
// memories for load-time checks.
//
// Instrument adds two mutable i32 globals, a flag (FlagExport) and a
// countdown (FuelExport), and this check at the entry of every function and
// the head of every loop:
//
//	fuel = fuel - 1
//	if fuel <= 0 {
//	    memory.grow 0          ;; a no-op that returns to Go (see below)
//	    fuel = YieldEvery
//	    if flag { unreachable } ;; the host asked the guest to stop
//	}
//
// Every unbounded execution path passes a loop head or a function entry, so
// once the host sets the flag (and zeroes the fuel to be quick about it) the
// guest traps within a few instructions, and at worst within YieldEvery
// checks if its own decrement raced the host's write.
//
// Why the yield: compiled Wasm is not preemptible by the Go runtime, so a
// spinning guest would stall every stop-the-world phase of the garbage
// collector, and with it the timer that is meant to stop the guest: a
// deadlock. wazero implements memory.grow by returning to Go, where the
// goroutine can be preempted, so growing by zero pages every YieldEvery
// checks bounds that stall to microseconds. wazero's own
// WithCloseOnContextDone returns to Go at every loop head instead, which is
// what makes it 8-70x slower on loop-heavy code; this check costs a
// load, a subtraction, a store and a branch on the fast path.
//
// A start section is turned into the export StartExport, so that the host
// can run it under the same deadline. DWARF sections are dropped because
// code offsets move; the "name" section stays valid since no function or
// local index changes.
package interrupt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Export names added by Instrument.
const (
	// FlagExport is the added i32 global; nonzero stops the guest.
	FlagExport = "portcullis.interrupt"
	// FuelExport is the added i32 countdown to the next yield; the host
	// zeroes it to make the guest look at the flag at once.
	FuelExport = "portcullis.fuel"
	// StartExport is the function the start section named, if there was one.
	StartExport = "portcullis.start"
)

// Section ids of the binary format.
const (
	secCustom   = 0
	secImport   = 2
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secCode     = 10
	secDataCnt  = 12
	secTag      = 13
	kindFunc    = 0
	kindMemory  = 2
	kindGlobal  = 3
	wasmVersion = 1
)

var magic = []byte{0, 'a', 's', 'm'}

// YieldEvery is the number of checks between two yields to Go.
const YieldEvery = 1024

// ErrNotWasm is returned for input that lacks the Wasm magic number.
var ErrNotWasm = errors.New("not a WebAssembly module (bad magic number)")

// order gives each known section its position in a valid module.
var order = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, secTag: 6, secGlobal: 7, secExport: 8,
	secStart: 9, 9: 10, secDataCnt: 11, secCode: 12, 11: 13}

// Import is one entry of the import section.
type Import struct {
	Module, Name string
	Kind         byte // 0 func, 1 table, 2 memory, 3 global, 4 tag
}

// Export is one entry of the export section.
type Export struct {
	Name  string
	Kind  byte
	Index uint32
}

// Memory is a memory the module defines, in 64 KiB pages.
type Memory struct {
	Min, Max uint64
	HasMax   bool
}

// Module summarizes what load-time checks need.
type Module struct {
	Imports  []Import
	Exports  []Export
	Memories []Memory
	HasStart bool
}

type section struct {
	id   byte
	body []byte
}

// sections splits a module into its sections.
func sections(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], magic) {
		return nil, ErrNotWasm
	}
	if v := uint32(wasm[4]) | uint32(wasm[5])<<8 | uint32(wasm[6])<<16 | uint32(wasm[7])<<24; v != wasmVersion {
		return nil, fmt.Errorf("binary format version %d is not a core module (version 1)", v)
	}
	r := &reader{b: wasm, off: 8}
	var out []section
	last := 0
	for !r.done() {
		id := r.byte()
		body := r.bytes(uint64(r.u32()))
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, r.err)
		}
		if id != secCustom {
			pos, ok := order[id]
			if !ok {
				return nil, fmt.Errorf("unknown section id %d", id)
			}
			if pos <= last {
				return nil, fmt.Errorf("section %d out of order or repeated", id)
			}
			last = pos
		}
		out = append(out, section{id, body})
	}
	return out, nil
}

// Inspect parses the module's sections well enough to summarize them. It
// does not validate function bodies; compilation does.
func Inspect(wasm []byte) (*Module, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	m := &Module{}
	for _, s := range secs {
		r := &reader{b: s.body}
		switch s.id {
		case secImport:
			m.Imports = readImports(r)
		case secExport:
			m.Exports = readExports(r)
		case secMemory:
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				min, max, hasMax := r.limits()
				m.Memories = append(m.Memories, Memory{min, max, hasMax})
			}
		case secStart:
			m.HasStart = true
		}
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, r.err)
		}
	}
	return m, nil
}

func readImports(r *reader) []Import {
	var out []Import
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		im := Import{Module: r.name(), Name: r.name(), Kind: r.byte()}
		switch im.Kind {
		case kindFunc:
			r.u32()
		case 1: // table: reference type, limits
			r.byte()
			r.limits()
		case kindMemory:
			r.limits()
		case kindGlobal:
			r.byte()
			r.byte()
		case 4: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			r.fail(fmt.Errorf("import %s.%s: unknown kind %d", im.Module, im.Name, im.Kind))
		}
		out = append(out, im)
	}
	return out
}

func readExports(r *reader) []Export {
	var out []Export
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		out = append(out, Export{Name: r.name(), Kind: r.byte(), Index: r.u32()})
	}
	return out
}

// Instrument returns a copy of wasm with interrupt checks added (see the
// package doc). It refuses modules it cannot instrument safely: malformed
// ones, those that already use the reserved export names, and code that
// refers to the added global.
func Instrument(wasm []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	var globals uint32 // imported + defined: the added flag's index
	memories := 0
	var start struct {
		ok  bool
		idx uint32
	}
	for _, s := range secs {
		r := &reader{b: s.body}
		switch s.id {
		case secImport:
			for _, im := range readImports(r) {
				switch im.Kind {
				case kindGlobal:
					globals++
				case kindMemory:
					memories++
				}
			}
		case secGlobal:
			globals += r.u32()
		case secMemory:
			memories += int(r.u32())
		case secExport:
			for _, e := range readExports(r) {
				if e.Name == FlagExport || e.Name == FuelExport || e.Name == StartExport {
					return nil, fmt.Errorf("export name %q is reserved for the host", e.Name)
				}
			}
		case secStart:
			start.ok, start.idx = true, r.u32()
		}
		if r.err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, r.err)
		}
	}
	if memories == 0 {
		return nil, errors.New("module has no memory; the interrupt check needs one")
	}
	flag, fuel := globals, globals+1

	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, wasm[:8]...)
	var body []byte // scratch for rebuilt section bodies
	emitted := struct{ global, export bool }{}
	emit := func(id byte, b []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(b)))
		out = append(out, b...)
	}
	newGlobals := func(b []byte) []byte {
		// i32, mutable, initialized by (i32.const 0) end: the flag, and
		// the fuel, which starts empty so that the first check yields.
		return append(b, 0x7f, 1, 0x41, 0, 0x0b, 0x7f, 1, 0x41, 0, 0x0b)
	}
	newExports := func(b []byte) []byte {
		b = append(appendName(b, FlagExport), kindGlobal)
		b = appendU32(b, flag)
		b = append(appendName(b, FuelExport), kindGlobal)
		b = appendU32(b, fuel)
		if start.ok {
			b = append(appendName(b, StartExport), kindFunc)
			b = appendU32(b, start.idx)
		}
		return b
	}
	exportCount := uint32(2)
	if start.ok {
		exportCount++
	}
	// flush emits the added sections that must precede a section at pos.
	flush := func(pos int) {
		if !emitted.global && pos > order[secGlobal] {
			emit(secGlobal, newGlobals(appendU32(body[:0], 2)))
			emitted.global = true
		}
		if !emitted.export && pos > order[secExport] {
			emit(secExport, newExports(appendU32(body[:0], exportCount)))
			emitted.export = true
		}
	}
	for _, s := range secs {
		if s.id != secCustom {
			flush(order[s.id])
		}
		r := &reader{b: s.body}
		switch s.id {
		case secCustom:
			if name := r.name(); r.err == nil && (strings.HasPrefix(name, ".debug_") || name == "sourceMappingURL") {
				continue
			}
			emit(s.id, s.body)
		case secGlobal:
			n := r.u32()
			body = appendU32(body[:0], n+2)
			body = append(body, s.body[r.off:]...)
			emit(secGlobal, newGlobals(body))
			emitted.global = true
		case secExport:
			n := r.u32()
			body = appendU32(body[:0], n+exportCount)
			body = append(body, s.body[r.off:]...)
			emit(secExport, newExports(body))
			emitted.export = true
		case secStart:
			// Dropped: the host calls StartExport under a deadline instead.
		case secCode:
			code, err := instrumentCode(s.body, flag)
			if err != nil {
				return nil, err
			}
			emit(secCode, code)
		default:
			emit(s.id, s.body)
		}
	}
	flush(len(order) + 1)
	return out, nil
}

// appendCheck appends the check (see the package doc) for the flag global
// at index flag and the fuel global right after it.
func appendCheck(dst []byte, flag uint32) []byte {
	fuel := flag + 1
	dst = append(dst, 0x23) // global.get fuel
	dst = appendU32(dst, fuel)
	dst = append(dst, 0x41, 1, 0x6b, 0x24) // i32.const 1; i32.sub; global.set fuel
	dst = appendU32(dst, fuel)
	dst = append(dst, 0x23) // global.get fuel
	dst = appendU32(dst, fuel)
	dst = append(dst, 0x41, 0, 0x4c, 0x04, 0x40) // i32.const 0; i32.le_s; if
	dst = append(dst, 0x41, 0, 0x40, 0, 0x1a)    // i32.const 0; memory.grow 0; drop
	dst = append(dst, 0x41)                      // i32.const YieldEvery
	dst = appendU32(dst, YieldEvery)             // positive and < 2^13: same as signed LEB
	dst = append(dst, 0x24)                      // global.set fuel
	dst = appendU32(dst, fuel)
	dst = append(dst, 0x23) // global.get flag
	dst = appendU32(dst, flag)
	return append(dst, 0x04, 0x40, 0x00, 0x0b, 0x0b) // if unreachable end; end
}

// instrumentCode rewrites the code section body, adding a check at each
// function entry and loop head.
func instrumentCode(sec []byte, flag uint32) ([]byte, error) {
	r := &reader{b: sec}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(sec)+len(sec)/8), n)
	var fn []byte
	for i := uint32(0); i < n; i++ {
		body := r.bytes(uint64(r.u32()))
		if r.err != nil {
			return nil, fmt.Errorf("code section: function %d: %w", i, r.err)
		}
		var err error
		if fn, err = instrumentBody(fn[:0], body, flag); err != nil {
			return nil, fmt.Errorf("code section: function %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if r.err != nil || r.off != len(sec) {
		return nil, errors.New("code section: function count does not match its size")
	}
	return out, nil
}

func instrumentBody(dst, body []byte, flag uint32) ([]byte, error) {
	r := &reader{b: body}
	for n := r.u32(); n > 0 && r.err == nil; n-- { // local declarations
		r.u32()
		r.byte()
	}
	if r.err != nil {
		return nil, fmt.Errorf("locals: %w", r.err)
	}
	dst = append(dst, body[:r.off]...)
	dst = appendCheck(dst, flag)
	copied := r.off
	for !r.done() {
		loop, err := skipInstruction(r, r.byte(), flag)
		if err == nil {
			err = r.err
		}
		if err != nil {
			return nil, fmt.Errorf("offset %d: %w", r.off, err)
		}
		if loop {
			dst = append(dst, body[copied:r.off]...)
			dst = appendCheck(dst, flag)
			copied = r.off
		}
	}
	return append(dst, body[copied:]...), nil
}
