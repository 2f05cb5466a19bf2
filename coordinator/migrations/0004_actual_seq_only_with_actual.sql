-- An item imported without an actual had its import's seq in actual_seq. actual_seq is the
-- seq of the write that recorded the actual, so it is empty until there is one.

UPDATE items SET actual_seq = NULL WHERE actual IS NULL;
