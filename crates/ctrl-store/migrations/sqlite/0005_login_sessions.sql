-- Login sessions get the name DESIGN gives them, leaving `sessions` free of ambiguity
-- beside the agent's chat sessions.

ALTER TABLE sessions RENAME TO login_sessions;
DROP INDEX sessions_by_user;
CREATE INDEX login_sessions_by_user ON login_sessions (user_name);
