"""The capture stage: per-stream readers (:mod:`.stream_reader`) put frames in
outboxes the runner sends from (:mod:`.stage`); frames in shared memory when the next
stage shares the host (:mod:`.frame_slots`)."""
