package store_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/token/store"
	"github.com/rampart-sec/rampart/internal/token/store/storetest"
)

const crashEnv = "RAMPART_TOKEN_STORE_CRASH_DSN"

// TestCrashChildProcess is the writer TestCrashDuringWrites kills: it
// issues and rotates refresh families, printing "ack N" after each
// rotation returned, until it is killed.
func TestCrashChildProcess(t *testing.T) {
	dsn := os.Getenv(crashEnv)
	if dsn == "" {
		t.Skip("helper process for TestCrashDuringWrites; runs only when started by it")
	}
	s := storetest.OpenDSN(t, dsn)
	for i := 0; ; i++ {
		fam := "fam-" + strconv.Itoa(i)
		issue(t, s, fam, "web", "u-1")
		if _, _, err := s.Rotate(t.Context(), rotation(fam+"-rt", fam+"-1", fam, t0.Add(time.Minute), time.Second)); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("ack %d\n", i)
	}
}

// TestCrashDuringWrites kills a process in the middle of its writes
// (SIGKILL, no clean close) and checks that every rotation it had
// acknowledged is in the store, and that the one in flight is either
// wholly there or wholly absent.
func TestCrashDuringWrites(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, dsn string) {
		s.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dsn)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := -1
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				acked, _ = strconv.Atoi(n)
				if acked >= 20 {
					break
				}
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if acked < 20 {
			t.Fatalf("the writer acknowledged only %d rotations before it stopped", acked+1)
		}

		s2 := storetest.OpenDSN(t, dsn)
		ctx := t.Context()
		for i := 0; ; i++ {
			fam := "fam-" + strconv.Itoa(i)
			_, oldErr := s2.GetRefreshToken(ctx, fam+"-rt")
			_, newErr := s2.GetRefreshToken(ctx, fam+"-1")
			switch {
			case i <= acked:
				if !errors.Is(oldErr, store.ErrInactive) || newErr != nil {
					t.Fatalf("acknowledged rotation %d lost: old %v, new %v", i, oldErr, newErr)
				}
			case errors.Is(oldErr, store.ErrNotFound):
				if !errors.Is(newErr, store.ErrNotFound) {
					t.Fatalf("family %d: a rotated-in token without its family", i)
				}
				return
			case oldErr == nil:
				// Issued, rotation not committed: the new token must not exist.
				if !errors.Is(newErr, store.ErrNotFound) {
					t.Fatalf("family %d half-rotated: old active, new %v", i, newErr)
				}
			case errors.Is(oldErr, store.ErrInactive):
				if newErr != nil {
					t.Fatalf("family %d half-rotated: old rotated, new %v", i, newErr)
				}
			default:
				t.Fatalf("family %d: %v", i, oldErr)
			}
		}
	})
}
