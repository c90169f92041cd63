package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxPassword bounds a password read from stdin or a terminal, in bytes.
const maxPassword = 4096

// readPassword gets a password: with fromStdin, the first line of standard
// input; otherwise asked on the terminal with echo off (standard input if
// it is a terminal, else /dev/tty), twice when confirm is set. An empty
// password is refused.
func readPassword(e *env, fromStdin, confirm bool) (string, error) {
	if fromStdin {
		pw, err := readLine(bufio.NewReader(e.stdin))
		if err != nil {
			return "", fmt.Errorf("password from standard input: %w", err)
		}
		if pw == "" {
			return "", errors.New("password from standard input: empty")
		}
		return pw, nil
	}

	tty, prompt := e.stdin, e.stderr
	if !isTerminal(tty) {
		f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil || !isTerminal(f) {
			if f != nil {
				f.Close()
			}
			return "", usagef("no terminal to ask the password on: give it with --password-stdin")
		}
		defer f.Close()
		tty, prompt = f, f
	}
	r := bufio.NewReader(tty)
	pw, err := askNoEcho(tty, r, prompt, "Password: ")
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	if confirm {
		again, err := askNoEcho(tty, r, prompt, "Password again: ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the passwords do not match")
		}
	}
	return pw, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// askNoEcho prompts and reads one line from the terminal tty with echo
// turned off, restoring the terminal afterwards, also when interrupted.
func askNoEcho(tty *os.File, r *bufio.Reader, prompt io.Writer, text string) (string, error) {
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	restore := func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }

	// ^C while echo is off must not leave the terminal silent.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			restore()
			fmt.Fprintln(prompt)
			os.Exit(130)
		case <-done:
		}
	}()
	defer func() {
		signal.Stop(sigs)
		close(done)
		restore()
	}()

	fmt.Fprint(prompt, text)
	line, err := readLine(r)
	fmt.Fprintln(prompt) // the newline typed was not echoed
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return line, nil
}

// readLine reads one line of at most maxPassword bytes, without its "\n"
// or "\r\n". End of input ends the line; end of input before anything is
// an error.
func readLine(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		b, err := r.ReadByte()
		if err == io.EOF {
			if len(line) == 0 {
				return "", errors.New("no password given (end of input)")
			}
			break
		}
		if err != nil {
			return "", err
		}
		if b == '\n' {
			break
		}
		if len(line) == maxPassword {
			return "", fmt.Errorf("longer than %d bytes", maxPassword)
		}
		line = append(line, b)
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}
