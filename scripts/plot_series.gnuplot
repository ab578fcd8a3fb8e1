# Plots every curve of a demo series file (examples/demos/report.hpp: write_series_tsv) into one PNG.
# Usage: gnuplot -e "file='a.tsv'; blocks=3; out='a.png'; heading='...'; xlab='...'; ylab='...'; logx=1; logy=0" \
#          scripts/plot_series.gnuplot        (blocks: the number of curves in the file)
if (!exists("logx")) logx = 0
if (!exists("logy")) logy = 0
set terminal pngcairo size 900,560 font "sans,11"
set output out
set title heading
set xlabel xlab
set ylabel ylab
set grid
set rmargin 8
set key outside bottom center horizontal maxrows 3 noenhanced
if (logx) set logscale x 2
if (logy) set logscale y
if (logx > 1) set logscale x 10; set format x "10^{%L}"
plot for [i=0:blocks-1] file index i using 1:2 with linespoints lw 2 pt 7 ps 0.8 title columnheader(1)
