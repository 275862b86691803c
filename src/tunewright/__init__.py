"""tunewright: make a domain fine-tune of a language model succeed, and prove that it did."""

__version__ = "0.1.0"
