package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// maxFrame bounds one newline-delimited frame from a server, so a server cannot exhaust memory.
const maxFrame = 64 << 20

// lineTransport speaks newline-delimited JSON-RPC over a pair of streams: a child process's stdio,
// or pipes to an in-process server.
type lineTransport struct {
	closer
	mu   sync.Mutex // serialises writes
	w    io.WriteCloser
	stop func() error // ends the peer; called once by Close
	once sync.Once
}

// newLineTransport starts reading r into inbox. stop ends the peer; its error is not reported.
// onEnd, when not nil, tells the transport why reading ended (e.g. the process exit status).
func newLineTransport(r io.Reader, w io.WriteCloser, inbox Inbox, stop func() error, onEnd func(error) error) *lineTransport {
	t := &lineTransport{closer: newCloser(), w: w, stop: stop}
	go func() {
		err := readLines(r, inbox)
		if onEnd != nil {
			err = onEnd(err)
		}
		t.finish(err)
	}()
	return t
}

func readLines(r io.Reader, inbox Inbox) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long)+len(line) > maxFrame {
				return fmt.Errorf("%w: frame over %d bytes", ErrProtocol, maxFrame)
			}
			long = append(long, line...)
			continue
		}
		if len(long) > 0 {
			line = append(long, line...)
			long = long[:0]
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			inbox.Receive(line, 0, false)
		}
		if err != nil {
			if err == io.EOF {
				return ErrClosed
			}
			return fmt.Errorf("%w: %v", ErrClosed, err)
		}
	}
}

func (t *lineTransport) Send(ctx context.Context, frame []byte, _ int64) error {
	select {
	case <-t.done:
		return unavailable("%v", t.Err())
	default:
	}
	// Newlines delimit frames; in valid JSON a raw newline can only be whitespace, so a
	// pretty-printed frame is flattened rather than refused.
	if bytes.IndexByte(frame, '\n') >= 0 || bytes.IndexByte(frame, '\r') >= 0 {
		frame = bytes.Map(func(r rune) rune {
			if r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, frame)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := t.w.Write(append(frame, '\n')); err != nil {
		return fmt.Errorf("%w: write: %v", ErrClosed, err)
	}
	return nil
}

func (t *lineTransport) Close() error {
	t.once.Do(func() {
		t.w.Close()
		if t.stop != nil {
			t.stop()
		}
	})
	<-t.done
	return nil
}

// StdioSpec says how to start a stdio server.
type StdioSpec struct {
	Server  string // for logs
	Command string
	Args    []string
	Env     map[string]string
	Dir     string
	Log     *slog.Logger
}

// DialStdio starts the command and returns a transport over its stdin and stdout. stderr goes to
// the log line by line. The process runs in its own process group, so that stopping it also
// stops what it spawned (npx starts node as a child), and the kernel kills it if the gateway dies.
func DialStdio(spec StdioSpec, inbox Inbox) (Transport, error) {
	cmd := exec.Command(spec.Command, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = os.Environ()
	for k, v := range spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, unavailable("stdin: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, unavailable("stdout: %v", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, unavailable("stderr: %v", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, unavailable("start %s: %v", spec.Command, err)
	}
	log := spec.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("server", spec.Server, "pid", cmd.Process.Pid)
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			log.Info("upstream stderr", "line", sc.Text())
		}
	}()
	waited := make(chan error, 1)
	stop := func() error {
		// Give the server a moment to exit on EOF, then signal its whole group.
		select {
		case err := <-waited:
			waited <- err
			return nil
		case <-time.After(2 * time.Second):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case err := <-waited:
			waited <- err
		case <-time.After(3 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return nil
	}
	onEnd := func(readErr error) error {
		<-stderrDone
		err := cmd.Wait() // reaps the child: no zombies
		// Children of the server (npx's node) must not outlive it.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		waited <- err
		if err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return fmt.Errorf("%w: process exited (%v)", ErrClosed, exit.ProcessState)
			}
			return fmt.Errorf("%w: %v", ErrClosed, err)
		}
		if errors.Is(readErr, ErrProtocol) {
			return readErr
		}
		return fmt.Errorf("%w: process exited", ErrClosed)
	}
	return newLineTransport(stdout, stdin, inbox, stop, onEnd), nil
}

// DialPipe connects to an in-process server through a pair of pipes speaking the stdio framing.
// serve runs the server on its ends and returns when they close.
func DialPipe(serve func(r io.ReadCloser, w io.WriteCloser), inbox Inbox) Transport {
	toServerR, toServerW := io.Pipe()
	fromServerR, fromServerW := io.Pipe()
	go func() {
		serve(toServerR, fromServerW)
		fromServerW.Close()
	}()
	stop := func() error { return fromServerR.Close() }
	return newLineTransport(fromServerR, toServerW, inbox, stop, nil)
}
