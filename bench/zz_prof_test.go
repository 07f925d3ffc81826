package main

import (
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
)

func TestZZProf(t *testing.T) {
	bt := os.Getenv("ZZ_BACKEND")
	if bt == "" {
		t.Skip()
	}
	ck := os.Getenv("ZZ_CK") == "1"
	n, _ := strconv.ParseInt(os.Getenv("ZZ_N"), 10, 64)
	e := &env{cfg: fullConfig(), tmp: t.TempDir(), log: t.Output()}
	if _, _, err := e.throughputRun(bt, false, n/4); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("ZZ_PROF"); p != "" {
		f, _ := os.Create(p)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for range 3 {
		c0 := cpuTime()
		r, c, err := e.throughputRun(bt, ck, n)
		t.Logf("cpu %.2f s, wall %.2f s", (cpuTime() - c0).Seconds(), float64(n)/r)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s ck=%v: %.4g records/s, %d checkpoints", bt, ck, r, c)
	}
}
