package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/internal/minio"
	"github.com/stated-io/stated/serializer"
)

// TestS3EndToEnd checkpoints a job to MinIO, kills MinIO in the middle of
// the job (checkpoints fail, the job goes on, nothing half-written becomes
// visible) and brings it back (checkpoints succeed again); then lists,
// inspects, verifies and collects the checkpoints through s3:// URLs and
// restores the job from one.
func TestS3EndToEnd(t *testing.T) {
	srv := minio.Start(t)
	dir := t.TempDir()
	location := "s3://" + srv.Bucket + "/checkpoints"
	s3 := []string{"--set", "s3.endpoint=" + srv.Endpoint, "--set", "s3.access-key=" + srv.AccessKey,
		"--set", "s3.secret-key=" + srv.SecretKey, "--set", "s3.path-style=true"}
	values := map[string]string{
		config.KeyName:          "job1",
		config.KeyBackendType:   "lsm",
		config.KeyLSMLocalDir:   filepath.Join(dir, "lsm"),
		config.KeyCheckpointDir: location,
		config.KeyInterval:      "100ms",
		config.KeyNumRetained:   "2",
		config.KeyParallelism:   "2",
		"s3.endpoint":           srv.Endpoint,
		"s3.access-key":         srv.AccessKey,
		"s3.secret-key":         srv.SecretKey,
		"s3.path-style":         "true",
	}
	job := func(extra map[string]string, out string, onCheckpoint func(engine.CheckpointStats)) *engine.Job {
		v := map[string]string{}
		for k, x := range values {
			v[k] = x
		}
		for k, x := range extra {
			v[k] = x
		}
		cfg, err := config.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		j := engine.New(engine.Options{Config: cfg, OnCheckpoint: onCheckpoint})
		src := engine.FromSource(j, "src", engine.Generate(60000, func(i int64) string { return "k" + strconv.FormatInt(i%700, 10) }), engine.WithRate(20000))
		counts := engine.Process(engine.KeyBy(src, func(s string) string { return s }, serializer.String{}), "count",
			func() engine.KeyedProcessFunction[string, string, string] { return &counter{} })
		engine.WriteLines(counts, "sink", out)
		return j
	}
	var completed, failed atomic.Int32
	var killed, restarted atomic.Bool
	j := job(nil, filepath.Join(dir, "out"), func(s engine.CheckpointStats) {
		if s.Err != nil {
			failed.Add(1)
			if killed.Load() && restarted.CompareAndSwap(false, true) {
				go srv.Restart()
			}
			return
		}
		if completed.Add(1) == 2 && killed.CompareAndSwap(false, true) {
			go srv.Kill()
		}
	})
	res, err := j.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v\nminio: %s", err, srv.Output())
	}
	if !restarted.Load() || res.Failed == 0 {
		t.Fatalf("no checkpoint failed while MinIO was down: %+v", res)
	}
	if completed.Load() < 3 {
		t.Fatalf("checkpoints did not succeed again after MinIO came back: %d completed", completed.Load())
	}

	out, errs, code := stated(t, append([]string{"checkpoints", "list", location, "--json"}, s3...)...)
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errs)
	}
	var rows []checkpointRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	valid := 0
	for _, r := range rows {
		if r.Status != "complete" {
			continue
		}
		valid++
		chk := location + "/job1/chk-" + strconv.FormatInt(r.ID, 10)
		if _, errs, code := stated(t, append([]string{"checkpoint", "inspect", chk, "--verify"}, s3...)...); code != 0 {
			t.Fatalf("verify %s: exit %d: %s", chk, code, errs)
		}
	}
	if valid != 2 {
		t.Fatalf("%d valid checkpoints, want num-retained 2: %+v", valid, rows)
	}
	if _, errs, code := stated(t, append([]string{"checkpoint", "gc", location, "--dry-run"}, s3...)...); code != 0 {
		t.Fatalf("gc: exit %d: %s", code, errs)
	}

	// Restore the newest checkpoint by its s3:// path at another parallelism.
	last := rows[len(rows)-1]
	res, err = job(map[string]string{
		config.KeyRecoveryPath: location + "/job1/chk-" + strconv.FormatInt(last.ID, 10) + "/_metadata",
		config.KeyParallelism:  "3",
	}, filepath.Join(dir, "out"), nil).Run(context.Background())
	if err != nil || !strings.HasPrefix(res.Restored, "s3://") {
		t.Fatalf("restore from s3: %v (%+v)", err, res)
	}
}
