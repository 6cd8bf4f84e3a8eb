"""The coordinator: Puli's dispatcher. The pure scheduling core and the service around it."""
