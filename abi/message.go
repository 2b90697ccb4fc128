package abi

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// Layout sizes, in bytes. All integers are little-endian.
const (
	// InputHeaderSize is the fixed part of an input message.
	InputHeaderSize = 32
	// ReplicaEntrySize is one entry of the replica table.
	ReplicaEntrySize = 16
	// VerdictHeaderSize is the fixed part of a verdict message.
	VerdictHeaderSize = 12
)

// ReplicaHealthy is bit 0 of a replica entry's flags.
const ReplicaHealthy uint32 = 1

// Replica describes one upstream replica offered to the route hook.
type Replica struct {
	Name          string // replica name from the configuration
	InFlight      uint32 // requests currently in flight to it
	LatencyMicros uint32 // recent latency (EWMA), microseconds; 0 if unknown
	Healthy       bool   // passes health checks and is not ejected
}

// Input is what a hook receives. Strings and slices are written to the
// message as bytes, in field order; an empty value has length 0.
type Input struct {
	Hook      Hook
	Direction Direction
	Server    string // target server name, "" when not yet known
	Tool      string // tool name for tools/call, "" otherwise
	Agent     string // calling agent, "" when anonymous
	Team      string // calling agent's team, "" when none
	Config    []byte // the binding's JSON config
	Frame     []byte // the raw JSON-RPC frame (for audit: the audit record)
	Replicas  []Replica
}

// Verdict is what a hook returns.
type Verdict struct {
	Action  Action
	Code    int32  // block: JSON-RPC error code, 0 for the host's default
	Replica uint32 // route: index into Input.Replicas
	Payload []byte // block: reason (UTF-8); rewrite: the new frame
}

// Decoding errors. Each names the rule of ABI.md that the message breaks.
var (
	ErrShortMessage    = errors.New("message shorter than its header")
	ErrVersion         = errors.New("message version is not 1")
	ErrLength          = errors.New("message length does not match its header")
	ErrReserved        = errors.New("reserved field is not zero")
	ErrUnknownHook     = errors.New("unknown hook")
	ErrDirection       = errors.New("unknown direction")
	ErrUnknownAction   = errors.New("unknown action")
	ErrReasonTooLong   = errors.New("block reason longer than 1024 bytes")
	ErrReasonNotUTF8   = errors.New("block reason is not valid UTF-8")
	ErrUnexpectedValue = errors.New("code/replica field set for an action that does not use it")
	ErrUnexpectedBody  = errors.New("payload set for an action that does not use it")
)

// InputSize returns the encoded size of in.
func InputSize(in *Input) int {
	n := InputHeaderSize + len(in.Server) + len(in.Tool) + len(in.Agent) + len(in.Team) +
		len(in.Config) + len(in.Frame) + ReplicaEntrySize*len(in.Replicas)
	for i := range in.Replicas {
		n += len(in.Replicas[i].Name)
	}
	return n
}

// PutInput encodes in into dst, which must be exactly InputSize(in) bytes
// long (it panics otherwise, as a slice index would). It does not allocate,
// so the host can encode straight into guest memory.
func PutInput(dst []byte, in *Input) {
	_ = dst[InputSize(in)-1]
	le := binary.LittleEndian
	dst[0], dst[1], dst[2], dst[3] = Version, byte(in.Hook), byte(in.Direction), 0
	le.PutUint32(dst[4:], uint32(len(in.Server)))
	le.PutUint32(dst[8:], uint32(len(in.Tool)))
	le.PutUint32(dst[12:], uint32(len(in.Agent)))
	le.PutUint32(dst[16:], uint32(len(in.Team)))
	le.PutUint32(dst[20:], uint32(len(in.Config)))
	le.PutUint32(dst[24:], uint32(len(in.Frame)))
	le.PutUint32(dst[28:], uint32(len(in.Replicas)))
	off := InputHeaderSize
	off += copy(dst[off:], in.Server)
	off += copy(dst[off:], in.Tool)
	off += copy(dst[off:], in.Agent)
	off += copy(dst[off:], in.Team)
	off += copy(dst[off:], in.Config)
	off += copy(dst[off:], in.Frame)
	for i := range in.Replicas {
		r := &in.Replicas[i]
		var flags uint32
		if r.Healthy {
			flags = ReplicaHealthy
		}
		le.PutUint32(dst[off:], uint32(len(r.Name)))
		le.PutUint32(dst[off+4:], r.InFlight)
		le.PutUint32(dst[off+8:], r.LatencyMicros)
		le.PutUint32(dst[off+12:], flags)
		off += ReplicaEntrySize
	}
	for i := range in.Replicas {
		off += copy(dst[off:], in.Replicas[i].Name)
	}
}

// AppendInput appends the encoding of in to dst.
func AppendInput(dst []byte, in *Input) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, InputSize(in))...)
	PutInput(dst[n:], in)
	return dst
}

// DecodeInput decodes the message b into in. Config and Frame alias b; the
// strings are copies. Replicas reuses in.Replicas' capacity.
func DecodeInput(b []byte, in *Input) error {
	if len(b) < InputHeaderSize {
		return ErrShortMessage
	}
	if b[0] != Version {
		return ErrVersion
	}
	if b[3] != 0 {
		return ErrReserved
	}
	h := Hook(b[1])
	if !h.Valid() {
		return ErrUnknownHook
	}
	if Direction(b[2]) > DirectionResponse {
		return ErrDirection
	}
	le := binary.LittleEndian
	var lens [6]uint64
	total := uint64(InputHeaderSize)
	for i := range lens {
		lens[i] = uint64(le.Uint32(b[4+4*i:]))
		total += lens[i]
	}
	count := uint64(le.Uint32(b[28:]))
	total += count * ReplicaEntrySize
	if total > uint64(len(b)) {
		return ErrLength
	}
	off := uint64(InputHeaderSize)
	field := func(i int) []byte {
		f := b[off : off+lens[i]]
		off += lens[i]
		return f
	}
	in.Hook, in.Direction = h, Direction(b[2])
	in.Server = string(field(0))
	in.Tool = string(field(1))
	in.Agent = string(field(2))
	in.Team = string(field(3))
	in.Config = field(4)
	in.Frame = field(5)
	table := b[off : off+count*ReplicaEntrySize]
	names := off + count*ReplicaEntrySize
	in.Replicas = in.Replicas[:0]
	for i := uint64(0); i < count; i++ {
		e := table[i*ReplicaEntrySize:]
		n := uint64(le.Uint32(e))
		if names+n > uint64(len(b)) {
			return ErrLength
		}
		if le.Uint32(e[12:])&^ReplicaHealthy != 0 {
			return ErrReserved
		}
		in.Replicas = append(in.Replicas, Replica{
			Name:          string(b[names : names+n]),
			InFlight:      le.Uint32(e[4:]),
			LatencyMicros: le.Uint32(e[8:]),
			Healthy:       le.Uint32(e[12:])&ReplicaHealthy != 0,
		})
		names += n
	}
	if names != uint64(len(b)) {
		return ErrLength
	}
	return nil
}

// AppendVerdict appends the encoding of v to dst. Fields that v.Action does
// not use are written as zero, so the result always decodes.
func AppendVerdict(dst []byte, v *Verdict) []byte {
	var value uint32
	var payload []byte
	switch v.Action {
	case ActionBlock:
		value, payload = uint32(v.Code), v.Payload
	case ActionRewrite:
		payload = v.Payload
	case ActionRoute:
		value = v.Replica
	}
	dst = append(dst, Version, byte(v.Action), 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, value)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// DecodeVerdict decodes the message b into v without allocating; v.Payload
// aliases b. It checks the layout only: whether the action suits the hook,
// and whether a rewrite is valid JSON-RPC, is the host's business.
func DecodeVerdict(b []byte, v *Verdict) error {
	if len(b) < VerdictHeaderSize {
		return ErrShortMessage
	}
	if b[0] != Version {
		return ErrVersion
	}
	if b[2] != 0 || b[3] != 0 {
		return ErrReserved
	}
	value := binary.LittleEndian.Uint32(b[4:])
	n := binary.LittleEndian.Uint32(b[8:])
	if uint64(n) != uint64(len(b)-VerdictHeaderSize) {
		return ErrLength
	}
	payload := b[VerdictHeaderSize:]
	*v = Verdict{Action: Action(b[1])}
	switch v.Action {
	case ActionAllow:
		if value != 0 {
			return ErrUnexpectedValue
		}
		if n != 0 {
			return ErrUnexpectedBody
		}
	case ActionBlock:
		if n > MaxReasonLen {
			return ErrReasonTooLong
		}
		if !utf8.Valid(payload) {
			return ErrReasonNotUTF8
		}
		v.Code, v.Payload = int32(value), payload
	case ActionRewrite:
		if value != 0 {
			return ErrUnexpectedValue
		}
		v.Payload = payload
	case ActionRoute:
		if n != 0 {
			return ErrUnexpectedBody
		}
		v.Replica = value
	default:
		return ErrUnknownAction
	}
	return nil
}

// PackResult packs a guest pointer and length into a hook's i64 result.
func PackResult(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// UnpackResult splits a hook's i64 result into pointer and length.
func UnpackResult(r uint64) (ptr, length uint32) { return uint32(r >> 32), uint32(r) }
