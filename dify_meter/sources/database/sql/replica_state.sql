-- Where a replica stands (on a primary only in_recovery = false matters). Each message of the primary's WAL
-- sender carries its WAL end (latest_end_lsn keeps the last one) and its send time (last_msg_send_time).
-- PostgreSQL shows the WAL receiver's columns only to roles with pg_read_all_stats (NULL for others).
SELECT
    pg_is_in_recovery() AS in_recovery,
    pg_last_xact_replay_timestamp() AS replayed_until,
    receiver.last_msg_send_time AS primary_end_reported_at,
    pg_wal_lsn_diff(receiver.latest_end_lsn, pg_last_wal_replay_lsn()) > 0 AS replay_behind_primary
FROM (SELECT 1) AS one
LEFT JOIN pg_stat_wal_receiver AS receiver ON true
