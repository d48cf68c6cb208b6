package flock

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestAcquireExcludesAndHonoursContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "x.lock")
	l, err := Acquire(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, p); err == nil {
		t.Fatal("a second holder got the lock")
	}
	l.Release()
	l2, err := Acquire(context.Background(), p)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

func TestRemovedLockIsRelocked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	var inside int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := Acquire(context.Background(), p)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			if inside > 1 {
				t.Error("two holders at once after the file was removed")
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			w.ReleaseAndRemove()
		}()
	}
	time.Sleep(20 * time.Millisecond)
	l.ReleaseAndRemove()
	wg.Wait()
}
