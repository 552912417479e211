-- name: ransom-note-upload
-- title: Ransom-note-like upload
-- severity: critical
-- logs: access
-- technique: T1486
-- description: A successful upload (PUT, copy, completed multipart upload) of a text or HTML file named like a
-- description: ransom note (README...DECRYPT, HOW_TO_RECOVER, ...RANSOM...) or of a key ending in .locked,
-- description: .encrypted or .crypt.
-- identity: bucket_name, object_key
-- evidence: run object-history --bucket {bucket_name} --key {object_key}
SELECT min(request_time) AS event_time, bucket_name, key AS object_key,
       arg_min(requester, request_time) AS principal,
       arg_min(remoteip, request_time) AS source_ip, 'ransom-note-like key uploaded' AS detail
FROM access_log
WHERE operation IN ('REST.PUT.OBJECT', 'REST.COPY.OBJECT', 'REST.POST.UPLOAD')
  AND httpstatus BETWEEN 200 AND 299
  AND (regexp_matches(lower(key), '(^|/)[^/]*(decrypt|recover|ransom|restore_files|restore-files)[^/]*\.(txt|html?|hta|md|rtf)$')
       OR regexp_matches(lower(key), '\.(locked|encrypted|crypt)$'))
  AND ($since IS NULL OR request_time >= $since)
  AND ($until IS NULL OR request_time < $until)
GROUP BY bucket_name, key
ORDER BY event_time, bucket_name, object_key
