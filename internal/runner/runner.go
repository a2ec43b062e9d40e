// Package runner is the one way dlvm runs external commands (lvm, tgtadm, iscsiadm, dmsetup,
// ...). Production code takes a Runner; Exec runs commands for real and Recorder is the recording
// fake tests use to script outputs and golden-test the exact command lines.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Runner runs one external command and returns its standard output.
type Runner interface {
	// Run runs name with args and waits for it. A command that exits non-zero returns its stdout
	// and an *ExitError carrying the exit code and stderr; a command that cannot start returns
	// the start error. Whether running it twice is safe is up to the command.
	Run(ctx context.Context, name string, args ...string) (stdout []byte, err error)
}

// ExitError is a command that ran and failed.
type ExitError struct {
	Cmd    string // the command line, space-joined
	Code   int    // exit code; -1 when killed by a signal or the context
	Stderr string // trimmed standard error
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: exit status %d", e.Cmd, e.Code)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Line is the command line name + args, space-joined, as Recorder records it.
func Line(name string, args ...string) string {
	return strings.TrimSpace(name + " " + strings.Join(args, " "))
}

// Exec runs commands on this host with LC_ALL=C so that their output is parseable.
type Exec struct {
	// Env is added to the process environment (KEY=VALUE).
	Env []string
}

// Run implements Runner.
func (x Exec) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), "LC_ALL=C"), x.Env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err == nil {
		return out.Bytes(), nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.Bytes(), &ExitError{Cmd: Line(name, args...), Code: ee.ExitCode(), Stderr: strings.TrimSpace(errb.String())}
	}
	return out.Bytes(), fmt.Errorf("run %s: %w", Line(name, args...), err)
}
