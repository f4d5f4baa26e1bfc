-- What an execution produced, for GET /api/v1/executions/{id}: the diff, test runs,
-- the agents used and the pull request, as one JSON object the pipeline maintains.
ALTER TABLE executions ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
