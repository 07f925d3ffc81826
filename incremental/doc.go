// Package incremental is the shared-file registry of incremental
// checkpoints (ARCHITECTURE.md, "One record's path"): it decides which
// checkpoints and which files of a job's checkpoint storage are deleted,
// and when.
//
// # Layout
//
// A job's checkpoints live in one snapshot.Storage (snapshot/FORMAT.md
// section 4):
//
//	<job>/chk-<n>/_metadata   the commit point, written last
//	<job>/chk-<n>/...         the files of checkpoint n only (exclusive)
//	<job>/shared/...          files several checkpoints may reference
//	<job>/taskowned/...       files the system never deletes
//
// A checkpoint exists if and only if its _metadata is valid. A file is
// shared because it lives under <job>/shared/ (whatever the Scope of the
// FileRef says); a file inside chk-<n>/ goes with checkpoint n; nothing
// under taskowned/ is ever deleted. Savepoints live elsewhere, share
// nothing, and are never registered nor deleted; a stop savepoint's
// pointer (<job>/savepoint-<n>.pointer, a restore point of the job) only
// keeps NextID above its id. The lease file <job>/_lease is no concern of
// the registry.
//
// # Runs and ownership
//
// A Registry serves one run of one job: one process, from Open to its end.
// Open rebuilds it from the storage, reading every valid _metadata of the
// job and counting, per shared file (by storage name), the retained
// checkpoints that reference it. Nothing is kept in a side file, so after a
// crash the next run's Open sees exactly what the storage holds.
//
// A run deletes only checkpoints it owns: those it completed, and the
// checkpoint it restored from in CLAIM mode (Restored) when that is a
// checkpoint of this job in this storage. Checkpoints of earlier runs,
// including those of a run that crashed, and a checkpoint restored in
// NO_CLAIM mode are never deleted by the run: they stay retained, and so do
// the shared files they reference.
//
// # Subsumption
//
// When a checkpoint completes (CheckpointCompleted), the run's own
// retained checkpoints beyond Options.NumRetained (at least 1), oldest
// first, a claimed restored checkpoint being the oldest, are deleted: the
// _metadata first, so the checkpoint stops existing at once, then the files
// of its directory, then every shared file no retained checkpoint references
// any more. Checkpoints age by id, as snapshot.LatestCheckpoint and the lsm
// backend's confirmed checkpoint see them: the newest is the one with the
// highest id, and it is never deleted by subsumption. (A checkpoint that
// completes after one with a higher id is the oldest, and deleted at once if
// the run retains NumRetained newer ones.) Discard deletes all the run's own
// checkpoints the same way, for DELETE_ON_CANCELLATION and
// NO_EXTERNALIZED_CHECKPOINTS.
//
// A checkpoint in flight (CheckpointStarted) may reference shared files of
// the checkpoints retained when it started. If such a file loses its last
// reference meanwhile (another checkpoint completed and subsumed the one
// that used it), its deletion waits until every checkpoint that was in flight
// then has completed (and references it again, or not) or aborted.
//
// # Aborted checkpoints and orphans
//
// CheckpointAborted deletes the files the aborting run wrote for a
// checkpoint that will never complete, as the caller names them: those of
// its directory chk-<n>/ (its _metadata only when the caller committed it
// itself: after losing the commit race to another writer, ErrExist, the
// _metadata and everything else the loser did not write stay) and its
// shared uploads that nothing else uses. The directory is never listed nor
// deleted whole. Files nobody named, and the files left by a crash or a
// failed delete, are orphans: SweepOrphans deletes the files under shared/ that no valid
// checkpoint references and the files of chk-<n>/ directories without a
// _metadata, once they are older than Options.GracePeriod (by the
// modification times of snapshot.InfoLister; a storage without it is not
// swept). A shared file uploaded by the checkpoint in flight is referenced
// by no _metadata until that checkpoint completes: the grace period, which
// must exceed the longest checkpoint duration, protects it, and so does
// reporting it with CheckpointUploaded. The directory of a checkpoint in
// flight is never swept.
//
// A chk-<n>/ directory whose _metadata exists but cannot be read (corrupt,
// or of a newer format) is not a checkpoint and is never swept: a human
// should look at it. Since what it references is unknown, no shared file of
// the job is deleted while it exists, neither by subsumption nor by the
// sweeper.
package incremental
