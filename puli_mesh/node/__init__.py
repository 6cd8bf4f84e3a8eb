"""The agent that runs on every render node: membership, election, worker loop, execution."""
