package interrupt

import "fmt"

// skipInstruction reads the immediates of the instruction whose opcode op
// was just read. It reports whether the instruction is a loop (so a check
// goes right after it) and refuses references to the interrupt global and
// opcodes it does not know: guessing an immediate's length wrong would make
// later bytes look like instructions.
func skipInstruction(r *reader, op byte, flag uint32) (loop bool, err error) {
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
		skipBlockType(r)
		return op == 0x03, nil
	case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b, op == 0xd1:
		// unreachable, nop, else, end, return, drop, select, ref.is_null
	case op == 0x0c, op == 0x0d, op == 0x10, op == 0x12, op == 0xd2:
		r.u32() // br, br_if, call, return_call, ref.func
	case op == 0x0e: // br_table
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.u32()
		}
		r.u32()
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select with types
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.byte()
		}
	case op >= 0x20 && op <= 0x22, op == 0x25, op == 0x26:
		r.u32() // local.*, table.get, table.set
	case op == 0x23 || op == 0x24: // global.get, global.set
		if idx := r.u32(); r.err == nil && idx >= flag {
			return false, fmt.Errorf("global index %d out of range", idx)
		}
	case op >= 0x28 && op <= 0x3e:
		skipMemArg(r)
	case op == 0x3f || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41:
		r.skipSLEB(32)
	case op == 0x42:
		r.skipSLEB(64)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op >= 0x45 && op <= 0xc4: // numeric and sign extension
	case op == 0xd0: // ref.null
		r.skipSLEB(33)
	case op == 0xfc:
		return false, skipMisc(r)
	case op == 0xfd:
		return false, skipSIMD(r)
	case op == 0xfe:
		return false, skipAtomic(r)
	default:
		return false, fmt.Errorf("unsupported opcode %#x", op)
	}
	return false, nil
}

func skipBlockType(r *reader) {
	if r.off < len(r.b) {
		switch c := r.b[r.off]; c {
		case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
			r.off++
			return
		}
	}
	r.skipSLEB(33) // type index
}

func skipMemArg(r *reader) {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: explicit memory index
		r.u32()
	}
	r.uleb(64)
}

// skipMisc handles the 0xfc prefix: saturating truncation, bulk memory and
// table instructions.
func skipMisc(r *reader) error {
	switch sub := r.u32(); {
	case sub <= 7:
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17:
		r.u32() // data.drop, memory.fill, elem.drop, table.grow/size/fill
	default:
		return fmt.Errorf("unsupported opcode 0xfc %d", sub)
	}
	return nil
}

// skipSIMD handles the 0xfd prefix (fixed-width SIMD).
func skipSIMD(r *reader) error {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads, stores, load_zero
		skipMemArg(r)
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		r.byte()
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		skipMemArg(r)
		r.byte()
	case sub <= 275:
	default:
		return fmt.Errorf("unsupported opcode 0xfd %d", sub)
	}
	return nil
}

// skipAtomic handles the 0xfe prefix (threads). wazero refuses these unless
// its threads feature is on, so they only need to be skipped correctly.
func skipAtomic(r *reader) error {
	switch sub := r.u32(); {
	case sub == 3: // atomic.fence
		r.byte()
	case sub <= 0x4e:
		skipMemArg(r)
	default:
		return fmt.Errorf("unsupported opcode 0xfe %d", sub)
	}
	return nil
}
