-- name: top-requesters
-- title: Who makes the requests
-- description: Requests, bytes sent, errors and denials per requester (or per remote IP with --by ip, per
-- description: operation with --by operation), busiest first; anonymous requests have no requester.
-- parameters: since, until, bucket, key, prefix, operation, status, by
-- columns: group_key, requests, bytes_sent, errors, denied, first_seen, last_seen
-- key_columns: group_key, requests, errors, denied, bytes_sent, first_seen, last_seen
SELECT CASE $by WHEN 'ip' THEN remoteip WHEN 'operation' THEN operation ELSE requester END AS group_key,
       count(*) AS requests,
       coalesce(sum(bytessent), 0) AS bytes_sent,
       count(CASE WHEN httpstatus >= 400 THEN 1 END) AS errors,
       count(CASE WHEN httpstatus = 403 THEN 1 END) AS denied,
       min(request_time) AS first_seen,
       max(request_time) AS last_seen
FROM access_log
WHERE ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
  AND ($bucket IS NULL OR bucket_name = $bucket)
  AND ($key IS NULL OR key = $key)
  AND ($prefix IS NULL OR starts_with(key, $prefix))
  AND ($operation IS NULL OR operation = upper($operation))
  AND ($status IS NULL OR httpstatus = $status)
GROUP BY 1
ORDER BY requests DESC, bytes_sent DESC, group_key NULLS LAST
