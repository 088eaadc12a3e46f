"""aesynth: sensitive A&E records to de-identified, then synthetic, shareable datasets."""
