package gateway

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// processAlive reports whether pid runs and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}
