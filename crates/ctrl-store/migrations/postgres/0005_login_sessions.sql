-- Login sessions get the name DESIGN gives them, leaving `sessions` free of ambiguity
-- beside the agent's chat sessions.

ALTER TABLE sessions RENAME TO login_sessions;
ALTER INDEX sessions_by_user RENAME TO login_sessions_by_user;
