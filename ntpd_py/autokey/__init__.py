"""autokey"""
