"""Bank return files in, matching, checks that raise findings, the finding workflow."""
