"""The model catalogue as data, with one builder + exporter per source framework."""
