"""The operators' knowledge base (知识库): short answers found by a search in Chinese."""
