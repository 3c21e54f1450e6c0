# Reference for RubyGems: reads "a<TAB>b" lines, prints Gem::Version#<=> (-1/0/1), or E when
# Gem::Version.correct? refuses either side.
require "rubygems"

out = File.readlines(ARGV[0], chomp: true).map do |line|
  a, b = line.split("\t", 2)
  if Gem::Version.correct?(a) && Gem::Version.correct?(b)
    (Gem::Version.new(a) <=> Gem::Version.new(b)).to_s
  else
    "E"
  end
end
puts out
