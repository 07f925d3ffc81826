package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
)

// problems returns the *Problem values joined in err, in order.
func problems(t *testing.T, err error) []*Problem {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	ps := make([]*Problem, 0, len(errs))
	for _, e := range errs {
		var p *Problem
		if !errors.As(e, &p) {
			t.Fatalf("joined error %v (%T) is not a *Problem", e, e)
		}
		ps = append(ps, p)
	}
	return ps
}

// fileErrors returns the *FileError values joined in err, in order.
func fileErrors(t *testing.T, err error) []*FileError {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	fes := make([]*FileError, 0, len(errs))
	for _, e := range errs {
		var fe *FileError
		if !errors.As(e, &fe) {
			t.Fatalf("joined error %v (%T) is not a *FileError", e, e)
		}
		fes = append(fes, fe)
	}
	return fes
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustParse(t *testing.T, values map[string]string) *Job {
	t.Helper()
	j, err := Parse(values)
	if err != nil {
		t.Fatalf("Parse(%v): %v", values, err)
	}
	return j
}

func TestDefaults(t *testing.T) {
	want := &Job{
		Backend:     BackendHashMap,
		Interval:    time.Second,
		Timeout:     10 * time.Minute,
		Incremental: true,
		NumRetained: 1,
		Retention:   RetainOnCancellation,
		Compression: snapshot.CompressionNone,
		ClaimMode:   backend.NoClaim,
		Parallelism: 1,
		LeaseTTL:    snapshot.DefaultLeaseTTL,

		MaxParallelism: 128,
	}
	for _, values := range []map[string]string{nil, {}} {
		if got := mustParse(t, values); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%v) = %+v, want %+v", values, got, want)
		}
	}

	// Giving every key its documented default changes nothing but
	// MaxParallelismSet.
	all := make(map[string]string)
	for _, k := range Keys() {
		def, ok := Default(k)
		if !ok {
			t.Fatalf("Default(%q) unknown", k)
		}
		all[k] = def
	}
	got := mustParse(t, all)
	if !got.MaxParallelismSet {
		t.Error("MaxParallelismSet = false with pipeline.max-parallelism given")
	}
	got.MaxParallelismSet = false
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(defaults) = %+v, want %+v", got, want)
	}

	if _, ok := Default("no.such.key"); ok {
		t.Error("Default(no.such.key) ok")
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	if len(keys) != len(specs) {
		t.Fatalf("Keys() has %d keys, specs %d", len(keys), len(specs))
	}
	if !slices.IsSorted(keys) {
		t.Errorf("Keys() not sorted: %v", keys)
	}
	if len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Errorf("Keys() has duplicates: %v", keys)
	}
	for k := range renamed {
		if _, ok := lookup(k); ok {
			t.Errorf("renamed key %q is a known key", k)
		}
		if _, ok := lookup(renamed[k]); !ok {
			t.Errorf("renamed key %q maps to unknown %q", k, renamed[k])
		}
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		key, value string
		got        func(*Job) any
		want       any
	}{
		{KeyName, "job-1", func(j *Job) any { return j.Name }, "job-1"},
		{KeyName, "A.b_c-9", func(j *Job) any { return j.Name }, "A.b_c-9"},
		{KeyName, "", func(j *Job) any { return j.Name }, ""},
		{KeyName, strings.Repeat("a", maxNameLen), func(j *Job) any { return len(j.Name) }, maxNameLen},

		{KeyBackendType, "hashmap", func(j *Job) any { return j.Backend }, BackendHashMap},
		{KeyBackendType, "lsm", func(j *Job) any { return j.Backend }, BackendLSM},
		{KeyBackendType, "remote", func(j *Job) any { return j.Backend }, BackendRemote},
		{KeyBackendType, " LSM ", func(j *Job) any { return j.Backend }, BackendLSM},

		{KeyLSMLocalDir, "/var/lib/stated", func(j *Job) any { return j.LSMLocalDir }, "/var/lib/stated"},

		{KeyCheckpointDir, "file:///tmp/chk", func(j *Job) any { return j.CheckpointDir }, "file:///tmp/chk"},
		{KeyCheckpointDir, "s3://bucket/prefix", func(j *Job) any { return j.CheckpointDir }, "s3://bucket/prefix"},
		{KeyCheckpointDir, "stated://host:9000", func(j *Job) any { return j.CheckpointDir }, "stated://host:9000"},
		{KeyCheckpointDir, "relative/dir", func(j *Job) any { return j.CheckpointDir }, "relative/dir"},
		{KeyCheckpointDir, "/abs/dir", func(j *Job) any { return j.CheckpointDir }, "/abs/dir"},
		{KeyCheckpointDir, "", func(j *Job) any { return j.CheckpointDir }, ""},
		{KeySavepointDir, "s3://bucket/sp", func(j *Job) any { return j.SavepointDir }, "s3://bucket/sp"},
		{KeySavepointDir, "", func(j *Job) any { return j.SavepointDir }, ""},

		{KeyInterval, "0", func(j *Job) any { return j.Interval }, time.Duration(0)},
		{KeyInterval, "500", func(j *Job) any { return j.Interval }, 500 * time.Millisecond},
		{KeyInterval, "1s", func(j *Job) any { return j.Interval }, time.Second},
		{KeyInterval, "500ms", func(j *Job) any { return j.Interval }, 500 * time.Millisecond},
		{KeyInterval, "1m30s", func(j *Job) any { return j.Interval }, 90 * time.Second},
		{KeyInterval, "1 s", func(j *Job) any { return j.Interval }, time.Second},
		{KeyInterval, "500 ms", func(j *Job) any { return j.Interval }, 500 * time.Millisecond},
		{KeyInterval, "2 sec", func(j *Job) any { return j.Interval }, 2 * time.Second},
		{KeyInterval, "10 min", func(j *Job) any { return j.Interval }, 10 * time.Minute},
		{KeyInterval, "2 h", func(j *Job) any { return j.Interval }, 2 * time.Hour},
		{KeyInterval, "1 d", func(j *Job) any { return j.Interval }, 24 * time.Hour},
		{KeyInterval, "3 MIN", func(j *Job) any { return j.Interval }, 3 * time.Minute},
		{KeyTimeout, "1ms", func(j *Job) any { return j.Timeout }, time.Millisecond},
		{KeyTimeout, "30 s", func(j *Job) any { return j.Timeout }, 30 * time.Second},

		{KeyIncremental, "false", func(j *Job) any { return j.Incremental }, false},
		{KeyIncremental, "TRUE", func(j *Job) any { return j.Incremental }, true},
		{KeyIncremental, "False", func(j *Job) any { return j.Incremental }, false},

		{KeyNumRetained, "1", func(j *Job) any { return j.NumRetained }, 1},
		{KeyNumRetained, "5", func(j *Job) any { return j.NumRetained }, 5},

		{KeyRetention, "DELETE_ON_CANCELLATION", func(j *Job) any { return j.Retention }, DeleteOnCancellation},
		{KeyRetention, "no_externalized_checkpoints", func(j *Job) any { return j.Retention }, NoExternalizedCheckpoints},
		{KeyRetention, "RETAIN_ON_CANCELLATION", func(j *Job) any { return j.Retention }, RetainOnCancellation},

		{KeyCompression, "none", func(j *Job) any { return j.Compression }, snapshot.CompressionNone},
		{KeyCompression, "zstd", func(j *Job) any { return j.Compression }, snapshot.CompressionZstd},
		{KeyCompression, "S2", func(j *Job) any { return j.Compression }, snapshot.CompressionS2},

		{KeyRecoveryPath, "/chk/chk-7", func(j *Job) any { return j.RecoveryPath }, "/chk/chk-7"},
		{KeyRecoveryPath, "s3://b/chk-7/_metadata", func(j *Job) any { return j.RecoveryPath }, "s3://b/chk-7/_metadata"},

		{KeyClaimMode, "CLAIM", func(j *Job) any { return j.ClaimMode }, backend.Claim},
		{KeyClaimMode, "no_claim", func(j *Job) any { return j.ClaimMode }, backend.NoClaim},

		{KeyIgnoreUnclaimedState, "true", func(j *Job) any { return j.IgnoreUnclaimedState }, true},
		{KeyUncoveredOutput, "move_aside", func(j *Job) any { return j.UncoveredOutput }, UncoveredOutputMoveAside},
		{KeyAdoptLegacyOutput, "true", func(j *Job) any { return j.AdoptLegacyOutput }, true},
		{KeyLeaseTTL, "2 min", func(j *Job) any { return j.LeaseTTL }, 2 * time.Minute},

		{KeyParallelism, "1", func(j *Job) any { return j.Parallelism }, 1},
		{KeyParallelism, "4", func(j *Job) any { return j.Parallelism }, 4},
		{KeyParallelism, "32768", func(j *Job) any { return j.Parallelism }, 32768},
		{KeyMaxParallelism, "1", func(j *Job) any { return j.MaxParallelism }, 1},
		{KeyMaxParallelism, "32768", func(j *Job) any { return j.MaxParallelism }, 32768},

		{KeyS3Endpoint, "http://localhost:9000", func(j *Job) any { return j.S3.Endpoint }, "http://localhost:9000"},
		{KeyS3AccessKey, "AK", func(j *Job) any { return j.S3.AccessKey }, "AK"},
		{KeyS3SecretKey, "S=K", func(j *Job) any { return j.S3.SecretKey }, "S=K"},
		{KeyS3Region, "eu-west-1", func(j *Job) any { return j.S3.Region }, "eu-west-1"},
		{KeyS3PathStyle, "true", func(j *Job) any { return j.S3.PathStyle }, true},
		{KeyS3Endpoint, "https://s3.eu-west-1.amazonaws.com", func(j *Job) any { return j.S3.Endpoint }, "https://s3.eu-west-1.amazonaws.com"},
		{KeyS3Checksum, "header", func(j *Job) any { return j.S3.Checksum }, s3.ChecksumHeader},
		{KeyS3Checksum, "Trailer", func(j *Job) any { return j.S3.Checksum }, s3.ChecksumTrailer},
		{KeyS3Checksum, "none", func(j *Job) any { return j.S3.Checksum }, s3.ChecksumNone},
		{KeyS3ConditionalWrites, "required", func(j *Job) any { return j.S3.ConditionalWrites }, s3.ConditionalWritesRequired},
		{KeyS3ConditionalWrites, "unchecked", func(j *Job) any { return j.S3.ConditionalWrites }, s3.ConditionalWritesUnchecked},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			j := mustParse(t, map[string]string{tt.key: tt.value})
			if got := tt.got(j); got != tt.want {
				t.Errorf("%s=%q: got %v, want %v", tt.key, tt.value, got, tt.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		key, value string
		cause      error // also wrapped, when not nil
	}{
		{KeyName, "-job", nil},
		{KeyName, ".hidden", nil},
		{KeyName, "..", nil},
		{KeyName, "a/b", nil},
		{KeyName, "a b", nil},
		{KeyName, strings.Repeat("a", maxNameLen+1), nil},

		{KeyBackendType, "rocksdb", nil},
		{KeyBackendType, "", nil},

		{KeyCheckpointDir, "hdfs://nn/chk", snapshot.ErrUnsupported},
		{KeyCheckpointDir, "s3:///no-bucket", nil},
		{KeyCheckpointDir, "file://host/abs", snapshot.ErrUnsupported},
		{KeySavepointDir, "ftp://h/p", snapshot.ErrUnsupported},
		{KeyRecoveryPath, "gs://b/chk-1", snapshot.ErrUnsupported},

		{KeyInterval, "abc", nil},
		{KeyInterval, "-1s", nil},
		{KeyInterval, "-5", nil},
		{KeyInterval, "1 fortnight", nil},
		{KeyInterval, "1.5 s", nil},
		{KeyInterval, "", nil},
		{KeyInterval, "99999999999 d", nil},
		{KeyInterval, "99999999999999999999", nil},
		{KeyTimeout, "0", nil},
		{KeyTimeout, "0s", nil},
		{KeyTimeout, "-1m", nil},

		{KeyIncremental, "yes", nil},
		{KeyIncremental, "1", nil},
		{KeyIncremental, "", nil},
		{KeyIgnoreUnclaimedState, "no", nil},
		{KeyUncoveredOutput, "DELETE", nil},
		{KeyLeaseTTL, "0", nil},
		{KeyS3PathStyle, "on", nil},
		{KeyS3Endpoint, "localhost:9000", nil},
		{KeyS3Endpoint, "ftp://host", nil},
		{KeyS3Endpoint, "http://host/path", nil},
		{KeyS3Checksum, "crc32c", nil},
		{KeyS3ConditionalWrites, "off", nil},

		{KeyNumRetained, "0", nil},
		{KeyNumRetained, "-1", nil},
		{KeyNumRetained, "1.5", nil},
		{KeyNumRetained, "many", nil},

		{KeyRetention, "RETAIN", nil},
		{KeyCompression, "gzip", nil},
		{KeyCompression, "true", nil},
		{KeyClaimMode, "LEGACY", nil},

		{KeyParallelism, "0", nil},
		{KeyParallelism, "32769", nil},
		{KeyParallelism, "x", nil},
		{KeyMaxParallelism, "0", nil},
		{KeyMaxParallelism, "32769", nil},
		{KeyMaxParallelism, "-128", nil},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			j, err := Parse(map[string]string{tt.key: tt.value})
			if j != nil {
				t.Errorf("Parse returned a Job with an error")
			}
			if !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("err = %v, want ErrInvalidValue", err)
			}
			if errors.Is(err, ErrUnknownKey) {
				t.Errorf("err = %v, wraps ErrUnknownKey", err)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.cause)
			}
			ps := problems(t, err)
			if len(ps) != 1 {
				t.Fatalf("%d problems, want 1: %v", len(ps), err)
			}
			if p := ps[0]; p.Key != tt.key || p.Value != tt.value || p.Reason == "" {
				t.Errorf("problem = %+v, want key %q, value %q and a reason", p, tt.key, tt.value)
			}
		})
	}
}

func TestUnknownKey(t *testing.T) {
	tests := []struct {
		key, suggestion string
	}{
		{"state.backend.typ", KeyBackendType},
		{"State.Backend.Type", KeyBackendType},
		{"execution.checkpointing.intervall", KeyInterval},
		{"execution.checkpoint.interval", KeyInterval},
		{"pipeline.maxparallelism", KeyMaxParallelism},
		{"s3.secretkey", KeyS3SecretKey},
		{"checkpointing.interval", KeyInterval},
		{"state.checkpoints.dir", KeyCheckpointDir},
		{"execution.savepoint.path", KeyRecoveryPath},
		{"state.backend", KeyBackendType},
		{"taskmanager.memory.process.size", ""},
		{"x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := Parse(map[string]string{tt.key: "secret"})
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("err = %v, want ErrUnknownKey", err)
			}
			if errors.Is(err, ErrInvalidValue) {
				t.Errorf("err = %v, wraps ErrInvalidValue", err)
			}
			ps := problems(t, err)
			if len(ps) != 1 {
				t.Fatalf("%d problems, want 1: %v", len(ps), err)
			}
			p := ps[0]
			if p.Key != tt.key || p.Suggestion != tt.suggestion {
				t.Errorf("problem key %q suggestion %q, want %q and %q", p.Key, p.Suggestion, tt.key, tt.suggestion)
			}
			if p.Value != "" {
				t.Errorf("problem value %q: the value of an unknown key must not be reported", p.Value)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse(map[string]string{
		KeyInterval:           "abc",
		"state.backend.typ":   "lsm",
		KeyNumRetained:        "0",
		KeyRetention:          "KEEP",
		KeyBackendType:        "rocksdb",
		KeyS3Region:           "fine",
		"zzz.unknown":         "1",
		KeyMaxParallelism:     "0",
		KeyParallelism:        "4",
		KeyIncremental:        "true",
		"aaa.another.unknown": "x",
	})
	if !errors.Is(err, ErrInvalidValue) || !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want both ErrInvalidValue and ErrUnknownKey", err)
	}
	var keys []string
	unknown := 0
	for _, p := range problems(t, err) {
		keys = append(keys, p.Key)
		if errors.Is(p, ErrUnknownKey) {
			unknown++
		}
	}
	want := []string{
		"aaa.another.unknown",
		KeyRetention,
		KeyInterval,
		KeyNumRetained,
		KeyMaxParallelism,
		"state.backend.typ",
		KeyBackendType,
		"zzz.unknown",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("problem keys = %q, want %q", keys, want)
	}
	if unknown != 3 {
		t.Errorf("%d unknown-key problems, want 3", unknown)
	}
}

func TestMaxParallelism(t *testing.T) {
	tests := []struct {
		name    string
		values  map[string]string
		wantMax int
		wantSet bool
		wantErr bool
	}{
		{"default", nil, 128, false, false},
		{"explicit default value", map[string]string{KeyMaxParallelism: "128"}, 128, true, false},
		{"explicit", map[string]string{KeyMaxParallelism: "256"}, 256, true, false},
		{"parallelism above default max is left to restore", map[string]string{KeyParallelism: "200"}, 128, false, false},
		{"parallelism equal to explicit max", map[string]string{KeyParallelism: "64", KeyMaxParallelism: "64"}, 64, true, false},
		{"parallelism above explicit max", map[string]string{KeyParallelism: "65", KeyMaxParallelism: "64"}, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Parse(tt.values)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidValue) {
					t.Fatalf("err = %v, want ErrInvalidValue", err)
				}
				ps := problems(t, err)
				if len(ps) != 1 || ps[0].Key != KeyParallelism {
					t.Fatalf("problems = %v, want one for %s", err, KeyParallelism)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j.MaxParallelism != tt.wantMax || j.MaxParallelismSet != tt.wantSet {
				t.Errorf("MaxParallelism %d set %v, want %d set %v", j.MaxParallelism, j.MaxParallelismSet, tt.wantMax, tt.wantSet)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	valid := map[string]time.Duration{
		"0": 0, "250": 250 * time.Millisecond, "1s": time.Second, "1 s": time.Second,
		"1.5s": 1500 * time.Millisecond, "1h2m3s": time.Hour + 2*time.Minute + 3*time.Second,
		"10min": 10 * time.Minute, "10 minutes": 10 * time.Minute, "1m": time.Minute,
		"2 days": 48 * time.Hour, "7 us": 7 * time.Microsecond, "3 ns": 3,
		" 5 s ": 5 * time.Second, "1 SEC": time.Second, "100 millis": 100 * time.Millisecond,
	}
	for in, want := range valid {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "s", "1 x", "-1", "-1s", "1 s s", "1,5s", "9223372036854775807 d", "1e3"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestLocalDir(t *testing.T) {
	j := mustParse(t, nil)
	if got, want := j.LocalDir(), filepath.Join(os.TempDir(), DefaultLSMDirName); got != want {
		t.Errorf("default LocalDir() = %q, want %q", got, want)
	}
	dir := t.TempDir()
	j = mustParse(t, map[string]string{KeyLSMLocalDir: dir})
	if got := j.LocalDir(); got != dir {
		t.Errorf("LocalDir() = %q, want %q", got, dir)
	}
}

func TestParseSet(t *testing.T) {
	tests := []struct {
		arg, key, value string
		wantErr         bool
	}{
		{"state.backend.type=lsm", KeyBackendType, "lsm", false},
		{"s3.secret-key=a=b==", KeyS3SecretKey, "a=b==", false},
		{"pipeline.name=", KeyName, "", false},
		{" parallelism.default =4", KeyParallelism, "4", false},
		{"execution.checkpointing.interval=10 min", KeyInterval, "10 min", false},
		{"state.backend.type", "", "", true},
		{"", "", "", true},
		{"=lsm", "", "", true},
		{"  =lsm", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			key, value, err := ParseSet(tt.arg)
			if tt.wantErr {
				if !errors.Is(err, ErrSyntax) {
					t.Errorf("ParseSet(%q) err = %v, want ErrSyntax", tt.arg, err)
				}
				return
			}
			if err != nil || key != tt.key || value != tt.value {
				t.Errorf("ParseSet(%q) = %q, %q, %v, want %q, %q", tt.arg, key, value, err, tt.key, tt.value)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"comments only", "# nothing\n", map[string]string{}},
		{"null document", "~\n", map[string]string{}},
		{"flat", "state.backend.type: lsm\nparallelism.default: 4\nexecution.checkpointing.incremental: false\n",
			map[string]string{KeyBackendType: "lsm", KeyParallelism: "4", KeyIncremental: "false"}},
		{"nested", "state:\n  backend:\n    type: lsm\n    lsm:\n      local-dir: /data\nexecution:\n  checkpointing:\n    interval: 10 min\n",
			map[string]string{KeyBackendType: "lsm", KeyLSMLocalDir: "/data", KeyInterval: "10 min"}},
		{"flow style", "state: {backend: {type: remote}}\n", map[string]string{KeyBackendType: "remote"}},
		{"mixed", "execution.checkpointing:\n  dir: s3://b/p\n  num-retained: 3\ns3: {path-style: true}\n",
			map[string]string{KeyCheckpointDir: "s3://b/p", KeyNumRetained: "3", KeyS3PathStyle: "true"}},
		{"scalars as written", "a: 1.50\nb: 0x10\nc: 'quoted'\nd: \"x: y\"\ne: TRUE\nf: 2024-01-01\n",
			map[string]string{"a": "1.50", "b": "0x10", "c": "quoted", "d": "x: y", "e": "TRUE", "f": "2024-01-01"}},
		{"null value", "pipeline.name:\ns3.region: null\ns3.endpoint: ~\ns3.access-key: 'null'\n",
			map[string]string{KeyName: "", KeyS3Region: "", KeyS3Endpoint: "", KeyS3AccessKey: "null"}},
		{"empty nested mapping", "state: {}\n", map[string]string{}},
		{"scalar alias", "a: &v lsm\nstate.backend.type: *v\n", map[string]string{"a": "lsm", KeyBackendType: "lsm"}},
		{"mapping alias", "x: &m {k: 1}\ny: *m\n", map[string]string{"x.k": "1", "y.k": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFile(writeFile(t, tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadFile = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	type want struct {
		err       error
		key       string
		line      int // 0: not checked
		nProblems int
	}
	tests := []struct {
		name, yaml string
		want       want
	}{
		{"duplicate flat", "a.b: 1\na.b: 2\n", want{ErrDuplicateKey, "a.b", 2, 1}},
		{"duplicate flat and nested", "state.backend.type: lsm\nstate:\n  backend:\n    type: hashmap\n", want{ErrDuplicateKey, KeyBackendType, 4, 1}},
		{"duplicate nested and flat", "state:\n  backend:\n    type: hashmap\nstate.backend.type: lsm\n", want{ErrDuplicateKey, KeyBackendType, 4, 1}},
		{"duplicate nested twice", "a:\n  b: 1\na:\n  b: 2\n", want{ErrDuplicateKey, "a.b", 4, 1}},
		{"list value", "a: 1\nb:\n  - x\n  - y\n", want{ErrInvalidValue, "b", 2, 1}},
		{"flow list value", "s3: {region: [a, b]}\n", want{ErrInvalidValue, KeyS3Region, 1, 1}},
		{"every problem", "a: [1]\nb: 1\nb: 2\nc:\n  d: [x]\n", want{ErrInvalidValue, "a", 1, 3}},
		{"syntax", "a: b: c\n", want{ErrSyntax, "", 0, 1}},
		{"syntax on a later line", "a: 1\nb: \"open\n", want{ErrSyntax, "", 2, 1}},
		{"syntax in second document", "a: 1\n---\nb: [\n", want{ErrSyntax, "", 0, 1}},
		{"bad indentation", "a:\n  b: 1\n c: 2\n", want{ErrSyntax, "", 0, 1}},
		{"tab indentation", "a:\n\tb: 1\n", want{ErrSyntax, "", 0, 1}},
		{"unknown anchor", "a: *nope\n", want{ErrSyntax, "", 0, 1}},
		{"two documents", "a: 1\n---\nb: 2\n", want{ErrSyntax, "", 0, 1}},
		{"top-level list", "- a\n- b\n", want{ErrSyntax, "", 1, 1}},
		{"top-level scalar", "lsm\n", want{ErrSyntax, "", 1, 1}},
		{"mapping key", "? {a: 1}\n: x\n", want{ErrSyntax, "", 1, 1}},
		{"merge key", "base: &b {x: 1}\nother:\n  <<: *b\n", want{ErrSyntax, "other", 3, 1}},
		{"alias cycle", "a: &a\n  b: *a\n", want{ErrSyntax, "", 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.yaml)
			m, err := ReadFile(path)
			if m != nil {
				t.Errorf("ReadFile returned a map with an error: %v", m)
			}
			if !errors.Is(err, tt.want.err) {
				t.Fatalf("err = %v, want %v", err, tt.want.err)
			}
			fes := fileErrors(t, err)
			if len(fes) != tt.want.nProblems {
				t.Fatalf("%d problems, want %d: %v", len(fes), tt.want.nProblems, err)
			}
			fe := fes[0]
			if fe.Path != path || fe.Key != tt.want.key || fe.Reason == "" {
				t.Errorf("FileError %+v, want path %q, key %q and a reason", fe, path, tt.want.key)
			}
			if tt.want.line != 0 && fe.Line != tt.want.line {
				t.Errorf("FileError line %d, want %d", fe.Line, tt.want.line)
			}
		})
	}
}

func TestReadFileAliasBomb(t *testing.T) {
	// Each level doubles the keys: 2^40 flattened keys if nothing stopped it.
	var b strings.Builder
	b.WriteString("l0: &l0 {a: 1, b: 2}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "l%d: &l%d {x: *l%d, y: *l%d}\n", i, i, i-1, i-1)
	}
	_, err := ReadFile(writeFile(t, b.String()))
	if !errors.Is(err, ErrSyntax) {
		t.Fatalf("err = %v, want ErrSyntax", err)
	}
}

func TestReadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := ReadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != path {
		t.Errorf("err = %v, want a *fs.PathError naming %q", err, path)
	}
}

// TestFileSetParse is the path of a job start: the file, --set overrides
// on top, then Parse.
func TestFileSetParse(t *testing.T) {
	path := writeFile(t, `
pipeline.name: wordcount
state:
  backend:
    type: lsm
execution:
  checkpointing:
    dir: s3://bucket/chk
    interval: 30 s
    externalized-checkpoint-retention: DELETE_ON_CANCELLATION
s3:
  endpoint: http://localhost:9000
  path-style: true
`)
	values, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"parallelism.default=8", "execution.checkpointing.interval=5s"} {
		k, v, err := ParseSet(arg)
		if err != nil {
			t.Fatal(err)
		}
		values[k] = v
	}
	j := mustParse(t, values)
	want := &Job{
		Name:          "wordcount",
		Backend:       BackendLSM,
		CheckpointDir: "s3://bucket/chk",
		Interval:      5 * time.Second,
		Timeout:       10 * time.Minute,
		Incremental:   true,
		NumRetained:   1,
		Retention:     DeleteOnCancellation,
		Parallelism:   8,
		LeaseTTL:      snapshot.DefaultLeaseTTL,

		MaxParallelism: 128,
		S3:             S3Options{Endpoint: "http://localhost:9000", PathStyle: true},
	}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("Job = %+v, want %+v", j, want)
	}
}

func TestEnumStrings(t *testing.T) {
	for _, r := range []Retention{RetainOnCancellation, DeleteOnCancellation, NoExternalizedCheckpoints} {
		j := mustParse(t, map[string]string{KeyRetention: r.String()})
		if j.Retention != r {
			t.Errorf("Retention %v does not round-trip: got %v", r, j.Retention)
		}
	}
	for _, b := range []BackendType{BackendHashMap, BackendLSM, BackendRemote} {
		j := mustParse(t, map[string]string{KeyBackendType: b.String()})
		if j.Backend != b {
			t.Errorf("BackendType %v does not round-trip: got %v", b, j.Backend)
		}
	}
}

// TestS3EndpointWithoutScheme: a bare host:port, which was taken to mean
// https, is refused, saying what to write.
func TestS3EndpointWithoutScheme(t *testing.T) {
	_, err := Parse(map[string]string{KeyS3Endpoint: "localhost:9000"})
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "s3.endpoint") ||
		!strings.Contains(err.Error(), "http://localhost:9000") || !strings.Contains(err.Error(), "https://localhost:9000") {
		t.Fatalf("Parse(s3.endpoint=localhost:9000): %v", err)
	}
	t.Log(err)
}
