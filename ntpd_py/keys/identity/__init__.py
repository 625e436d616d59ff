"""keys/identity"""
