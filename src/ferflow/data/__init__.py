"""Data: sources, synthetic faces, the FER2013 CSV codec, images and arrays."""
