-- The knowledge base: the seed's agents and knowledge_files, grown with what a
-- scan needs to tell a changed file from an unchanged one and what search shows.

ALTER TABLE knowledge_files ADD COLUMN root TEXT NOT NULL DEFAULT '';
ALTER TABLE knowledge_files ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE knowledge_files ADD COLUMN category TEXT;
ALTER TABLE knowledge_files ADD COLUMN creator TEXT;
ALTER TABLE knowledge_files ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';          -- JSON array
ALTER TABLE knowledge_files ADD COLUMN front_matter TEXT NOT NULL DEFAULT '{}';  -- JSON object
ALTER TABLE knowledge_files ADD COLUMN bytes INTEGER;
ALTER TABLE knowledge_files ADD COLUMN mtime_ns INTEGER;
ALTER TABLE knowledge_files ADD COLUMN sha256 TEXT;      -- NULL: not indexed yet
ALTER TABLE knowledge_files ADD COLUMN problem TEXT;
ALTER TABLE knowledge_files ADD COLUMN updated_at TEXT;
CREATE UNIQUE INDEX knowledge_files_by_path ON knowledge_files (root, file_path);
CREATE INDEX knowledge_files_by_agent ON knowledge_files (agent_id, id);
CREATE INDEX knowledge_files_by_creator ON knowledge_files (creator, id);
